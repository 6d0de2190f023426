"""Write a synthetic RPPS 'PS_LibreAcces_Personne_activite' extract of N lines.

Same layout as the real file (pipe-separated, header line, trailing '|'); invented people.
    python bench/generate_rpps.py 1000000 /tmp/rpps.txt
"""

import random
import sys

HEADER = (
    "Type d'identifiant PP|Identifiant PP|Identification nationale PP|"
    "Code civilité d'exercice|Libellé civilité d'exercice|Code civilité|Libellé civilité|"
    "Nom d'exercice|Prénom d'exercice|Code profession|Libellé profession|"
    "Code catégorie professionnelle|Libellé catégorie professionnelle|"
    "Code type savoir-faire|Libellé type savoir-faire|Code savoir-faire|Libellé savoir-faire|"
    "Code mode exercice|Libellé mode exercice|Numéro SIRET site|Numéro SIREN site|"
    "Numéro FINESS site|Numéro FINESS établissement juridique|"
    "Identifiant technique de la structure|Raison sociale site|Enseigne commerciale site|"
    "Complément destinataire (coord. structure)|"
    "Complément point géographique (coord. structure)|Numéro Voie (coord. structure)|"
    "Indice répétition voie (coord. structure)|Code type de voie (coord. structure)|"
    "Libellé type de voie (coord. structure)|Libellé Voie (coord. structure)|"
    "Mention distribution (coord. structure)|Bureau cedex (coord. structure)|"
    "Code postal (coord. structure)|Code commune (coord. structure)|"
    "Libellé commune (coord. structure)|Code pays (coord. structure)|"
    "Libellé pays (coord. structure)|Téléphone (coord. structure)|"
    "Téléphone 2 (coord. structure)|Télécopie (coord. structure)|"
    "Adresse e-mail (coord. structure)|Code Département (structure)|"
    "Libellé Département (structure)|Ancien identifiant de la structure|"
    "Autorité d'enregistrement|Code secteur d'activité|Libellé secteur d'activité|"
    "Code section tableau pharmaciens|Libellé section tableau pharmaciens|"
    "Code rôle|Libellé rôle|Code genre activité|Libellé genre activité|"
)
COLUMN_COUNT = HEADER.count("|") + 1
PROFESSIONS = [("10", "Médecin"), ("21", "Pharmacien"), ("40", "Chirurgien-Dentiste"),
               ("50", "Sage-Femme"), ("60", "Infirmier")]  # fmt: skip
LAST_NAMES = ["MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND"]
FIRST_NAMES = ["CAMILLE", "LOUIS", "EMMA", "JULES", "LINA", "HUGO", "CHLOE", "NOAH"]


def rpps_line(
    rpps: str,
    last_name: str,
    first_name: str,
    profession: tuple[str, str],
    finess_site: str = "",
    finess_legal: str = "",
    siret: str = "",
    site_name: str = "",
    postal_code: str = "",
    city: str = "",
) -> str:
    fields = [""] * COLUMN_COUNT
    fields[0], fields[1], fields[2] = "8", rpps, "8" + rpps
    fields[5], fields[6] = "M", "Monsieur"
    fields[7], fields[8] = last_name, first_name
    fields[9], fields[10] = profession
    fields[11], fields[12] = "C", "Civil"
    fields[17], fields[18] = "S", "Salarié"
    fields[19], fields[21], fields[22] = siret, finess_site, finess_legal
    fields[23] = f"R{finess_site or siret}" if (finess_site or siret) else ""
    fields[24], fields[35], fields[37] = site_name, postal_code, city
    if profession[0] == "21" and (finess_site or siret):
        fields[17], fields[18] = "L", "Libéral"
        fields[48], fields[49] = "SA33", "Officine"
        fields[50], fields[51] = "A", "Pharmaciens titulaires d'officine"
        fields[52], fields[53] = "FON-03", "Titulaire d'officine"
    return "|".join(fields)


def generate(count: int, out, seed: int = 1) -> None:
    rng = random.Random(seed)
    out.write(HEADER + "\n")
    person = 0
    written = 0
    while written < count:
        person += 1
        rpps = f"{20000000000 + person:011d}"
        profession = rng.choice(PROFESSIONS)
        last, first = rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES)
        # Most people have one activity line, some two (like the real extract).
        for _ in range(min(rng.choice((1, 1, 1, 2)), count - written)):
            site = f"{rng.randrange(1, 96):02d}{rng.randrange(10**7):07d}"
            out.write(
                rpps_line(
                    rpps, last, first, profession, site, "", "", "SITE TEST", "75001", "PARIS"
                )
                + "\n"
            )
            written += 1


if __name__ == "__main__":
    total = int(sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        generate(total, handle)
