"""The official directories, as imported from their public extracts.

Rows carry the id of the import that last saw them (`generation`): a full re-import
updates every row it sees and then deletes the rows it did not see, in one transaction.
"""

from django.db import models

PHARMACIST_PROFESSION_CODE = "21"
OFFICINE_CATEGORY_CODE = "620"
# "Code rôle" of the RPPS extract: the ANS nomenclature TRE_R21-Fonction. FON-03 is
# "Titulaire d'officine"; co-titulaires (partners of an SNC or SEL that holds the officine)
# are each registered with it too. FON-05 "Adjoint", FON-04 "Remplaçant du titulaire
# d'officine", FON-07 "Gérant après incapacité ou décès" do not own the pharmacy.
TITULAIRE_ROLE_CODES = frozenset({"FON-03"})
# "Code mode exercice" (TRE_R23-ModeExercice): L libéral, S salarié, B bénévole.


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
    # The extract lists the establishments in activity and has no closing date: one that
    # a later full import no longer contains is closed from then on (kept, not deleted,
    # so that an application for it says "closed" rather than "unknown").
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"FINESS {self.finess}"

    @property
    def is_officine(self) -> bool:
        return self.category_code == OFFICINE_CATEGORY_CODE

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


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
    profession_label = models.CharField(max_length=100, blank=True)
    structure_id = models.CharField(max_length=40, blank=True)
    finess_site = models.CharField(max_length=9, blank=True, db_index=True)
    finess_legal_entity = models.CharField(max_length=9, blank=True)
    siret_site = models.CharField(max_length=14, blank=True)
    site_name = models.CharField(max_length=200, blank=True)
    # "Code/Libellé mode exercice" (L, S, B) and "Code/Libellé rôle" (TRE_R21-Fonction).
    exercise_mode_code = models.CharField(max_length=4, blank=True)
    exercise_mode_label = models.CharField(max_length=100, blank=True)
    role_code = models.CharField(max_length=10, blank=True)
    role_label = models.CharField(max_length=150, blank=True)
    generation = models.PositiveIntegerField(db_index=True)

    class Meta:
        verbose_name_plural = "activities"
        constraints = [
            # One person can hold two roles at one site (titulaire, and responsible for
            # the oxygen dispensing): the role is part of the key.
            models.UniqueConstraint(
                fields=[
                    "rpps",
                    "profession_code",
                    "structure_id",
                    "finess_site",
                    "siret_site",
                    "role_code",
                ],
                name="activity_natural_key_with_role",
            )
        ]

    def __str__(self):
        return f"Activity of RPPS {self.rpps}"

    @property
    def is_titulaire(self) -> bool:
        return self.role_code in TITULAIRE_ROLE_CODES
