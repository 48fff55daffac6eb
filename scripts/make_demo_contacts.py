#!/usr/bin/env python3
"""Generate the demo site's contact files (run once; the output is committed).

    python scripts/make_demo_contacts.py [--out data/demo]

- ``contacts-rdv-b2b.csv``: the B2B appointment campaign, as a French client's spreadsheet
  would give it (';', UTF-8 with BOM, French headers), companies and custom fields.
- ``contacts-survey.csv``: the consumer survey, English headers, ',' and UTF-8; contacts
  speak French, Russian or Turkish, some with a consent date.

Numbers come from phonenumbers' example numbers (France, Belgium, Guadeloupe, Martinique
and abroad) with their trailing digits varied, each checked with ``is_valid_number``.
Every contact has a ``demo_behaviour`` telling the simulated line what to do.
The output is deterministic (fixed seed).
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

REPO = Path(__file__).resolve().parents[1]
SEED = 20260811

FR_FIRST = ["Hélène", "Jérôme", "Céline", "François", "Amélie", "Loïc", "Zoé", "Gaëlle",
            "Benoît", "Maëlle", "Éric", "Inès", "Thierry", "Sophie", "Noémie", "Raphaël",
            "Chloé", "Aurélien", "Léa", "Mathis", "Yasmine", "Karim", "Agnès", "Cédric"]
FR_LAST = ["Dupré", "Lefèvre", "Martin", "Bernard", "Thévenin", "Moreau", "Girard",
           "Fournier", "Rousseau", "Lemaître", "Bélanger", "Chevalier", "Durand", "Ménard",
           "Besnard", "Laurent", "Nguyen", "Boucher", "Perrin", "Caron", "Le Gall"]
RU_FIRST = ["Ольга", "Иван", "Наталья", "Дмитрий", "Анна", "Сергей", "Екатерина",
            "Алексей", "Мария", "Павел", "Татьяна", "Михаил"]
RU_LAST = ["Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Волков", "Соколова",
           "Лебедев", "Козлова", "Новиков"]
TR_FIRST = ["Ayşe", "Mehmet", "Elif", "Mustafa", "Zeynep", "Emre", "Fatma", "Burak",
            "Şule", "Oğuz", "Gülşen", "İbrahim"]
TR_LAST = ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Öztürk", "Aydın",
           "Arslan", "Doğan"]
COMPANY_KINDS = ["Boulangerie", "Garage", "Imprimerie", "Menuiserie", "Cabinet", "Hôtel",
                 "Transports", "Laboratoire", "Atelier", "Pharmacie", "Brasserie", "Serrurerie"]
COMPANY_FORMS = ["SARL", "SAS", "SA", "EURL", "& Fils", "SCOP"]
SECTORS = ["BTP", "Commerce", "Industrie", "Hôtellerie-restauration", "Santé", "Transport",
           "Services"]
HEADCOUNTS = ["1-9", "10-49", "50-249", "250+"]
CITIES_FR = ["Paris", "Lyon", "Lille", "Nantes", "Rennes", "Bordeaux", "Strasbourg",
             "Montpellier", "Besançon", "Orléans"]
CITIES = {"FR": CITIES_FR, "BE": ["Bruxelles", "Liège", "Namur", "Charleroi", "Mons"],
          "GP": ["Pointe-à-Pitre", "Basse-Terre", "Le Gosier"],
          "MQ": ["Fort-de-France", "Le Lamentin", "Schœlcher"],
          "CH": ["Genève", "Lausanne"], "LU": ["Luxembourg"], "DE": ["Berlin", "Köln"],
          "RU": ["Москва", "Санкт-Петербург", "Казань"], "TR": ["İstanbul", "Ankara", "İzmir"],
          "CA": ["Montréal"], "MA": ["Casablanca"]}
AGE_GROUPS = ["18-24", "25-34", "35-49", "50-64", "65+"]
TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)


def demo_behaviour(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return "answer"
    if roll < 0.85:
        return "busy"
    if roll < 0.95:
        return "no_answer"
    return "hangup"


class Numbers:
    """Distinct valid numbers, varied from phonenumbers' example numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def make(self, region: str) -> phonenumbers.PhoneNumber:
        for _try in range(1000):
            kind = self.rng.choice(TYPES)
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = str(example.national_number)
            tail = "".join(str(self.rng.randint(0, 9)) for _ in range(4))
            candidate = phonenumbers.PhoneNumber(
                country_code=example.country_code,
                national_number=int(national[:-4] + tail),
                italian_leading_zero=example.italian_leading_zero)
            e164 = phonenumbers.format_number(candidate, PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(candidate) and e164 not in self.used:
                self.used.add(e164)
                return candidate
        raise RuntimeError(f"no valid number found for {region}")

    def text(self, region: str) -> str:
        """French numbers as a French file writes them; the others in international form."""
        number = self.make(region)
        if region == "FR":
            style = self.rng.random()
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            if style < 0.6:
                return national
            if style < 0.8:
                return national.replace(" ", "")
            return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def pick_region(rng: random.Random, abroad: list[str]) -> str:
    roll = rng.random()
    if roll < 0.60:
        return "FR"
    if roll < 0.72:
        return "BE"
    if roll < 0.80:
        return "GP"
    if roll < 0.88:
        return "MQ"
    return rng.choice(abroad)


def b2b_rows(rng: random.Random, numbers: Numbers, count: int) -> list[list[str]]:
    rows = []
    for i in range(1, count + 1):
        region = pick_region(rng, ["CH", "LU", "DE", "CA", "MA"])
        last = rng.choice(FR_LAST)
        company = f"{rng.choice(COMPANY_KINDS)} {last} {rng.choice(COMPANY_FORMS)}"
        rows.append([
            f"B2B-{i:04d}", rng.choice(FR_FIRST), last, company, numbers.text(region), "fr",
            rng.choice(SECTORS), rng.choice(HEADCOUNTS), rng.choice(CITIES[region]),
            demo_behaviour(rng),
        ])
    return rows


def survey_rows(rng: random.Random, numbers: Numbers, count: int) -> list[list[str]]:
    rows = []
    for i in range(1, count + 1):
        roll = rng.random()
        if roll < 0.5:
            language, first, last, abroad = "fr", FR_FIRST, FR_LAST, ["CH", "CA", "MA"]
        elif roll < 0.75:
            language, first, last, abroad = "ru", RU_FIRST, RU_LAST, ["RU"]
        else:
            language, first, last, abroad = "tr", TR_FIRST, TR_LAST, ["TR", "DE"]
        region = pick_region(rng, abroad)
        consent_at = consent_source = ""
        if rng.random() < 0.3:
            consent_at = (date(2026, 3, 1) + timedelta(days=rng.randint(0, 150))).isoformat()
            consent_source = rng.choice(["formulaire web", "jeu concours", "magasin"])
        rows.append([
            f"ENQ-{i:04d}", rng.choice(first), rng.choice(last), numbers.text(region),
            language, consent_at, consent_source, rng.choice(CITIES[region]),
            rng.choice(AGE_GROUPS), demo_behaviour(rng),
        ])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "demo")
    args = parser.parse_args()
    rng = random.Random(SEED)
    numbers = Numbers(rng)
    args.out.mkdir(parents=True, exist_ok=True)
    b2b = args.out / "contacts-rdv-b2b.csv"
    with b2b.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh, delimiter=";", lineterminator="\n")
        out.writerow(["Référence", "Prénom", "Nom", "Société", "Téléphone", "Langue",
                      "Secteur", "Effectif", "Ville", "demo_behaviour"])
        out.writerows(b2b_rows(rng, numbers, 110))
    survey = args.out / "contacts-survey.csv"
    with survey.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter=",", lineterminator="\n")
        out.writerow(["external_ref", "first_name", "last_name", "phone", "language",
                      "consent_at", "consent_source", "city", "age_group", "demo_behaviour"])
        out.writerows(survey_rows(rng, numbers, 110))
    print(f"wrote {b2b} and {survey}")


if __name__ == "__main__":
    main()
