"""Building blocks shared by the apps; nothing here imports an app."""
