"""The official directories, as imported from their public extracts.

Rows carry the id of the import that last saw them (`generation`): a full re-import
updates every row it sees and then deletes the rows it did not see, in one transaction.
"""

from django.db import models

PHARMACIST_PROFESSION_CODE = "21"
OFFICINE_CATEGORY_CODE = "620"


class DirectoryImport(models.Model):
    class Kind(models.TextChoices):
        RPPS = "rpps", "RPPS"
        FINESS = "finess", "FINESS"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)
    lines_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.kind} import #{self.pk}"


class Establishment(models.Model):
    """One establishment (structureet line) of the FINESS extract."""

    finess = models.CharField(max_length=9, primary_key=True)
    legal_entity_finess = models.CharField(max_length=9, blank=True)
    name = models.CharField(max_length=200)
    long_name = models.CharField(max_length=300, blank=True)
    category_code = models.CharField(max_length=4)
    category_label = models.CharField(max_length=200, blank=True)
    siret = models.CharField(max_length=14, blank=True)
    address = models.CharField(max_length=300, blank=True)
    generation = models.PositiveIntegerField(db_index=True)

    def __str__(self):
        return f"FINESS {self.finess}"

    @property
    def is_officine(self) -> bool:
        return self.category_code == OFFICINE_CATEGORY_CODE


class Professional(models.Model):
    """One person of the RPPS extract (Identifiant PP of type 8 = RPPS number)."""

    rpps = models.CharField(max_length=11, primary_key=True)
    last_name = models.CharField(max_length=100)
    first_name = models.CharField(max_length=100, blank=True)
    generation = models.PositiveIntegerField(db_index=True)

    def __str__(self):
        return f"RPPS {self.rpps}"


class Activity(models.Model):
    """One line of the RPPS extract: a profession exercised at a site (maybe none)."""

    rpps = models.CharField(max_length=11, db_index=True)
    profession_code = models.CharField(max_length=4)
    structure_id = models.CharField(max_length=40, blank=True)
    finess_site = models.CharField(max_length=9, blank=True, db_index=True)
    finess_legal_entity = models.CharField(max_length=9, blank=True)
    siret_site = models.CharField(max_length=14, blank=True)
    generation = models.PositiveIntegerField(db_index=True)

    class Meta:
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(
                fields=["rpps", "profession_code", "structure_id", "finess_site", "siret_site"],
                name="activity_natural_key",
            )
        ]

    def __str__(self):
        return f"Activity of RPPS {self.rpps}"
