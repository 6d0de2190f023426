from pathlib import Path

# Small synthetic extracts in the official formats (invented people), used by the demo.
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
