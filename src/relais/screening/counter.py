"""What the counter's test form offers: the device catalogue, with the boxes of kits
the pharmacy opened lately first (their lot and expiry typed once, offered again)."""

import datetime
import json
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from relais.screening import catalogue, devices
from relais.screening.models import ScreeningTest

RECENT_DAYS = 90
RECENT_BOXES = 5


@dataclass(frozen=True)
class Box:
    """A box of kits in use at the pharmacy: a device (listed or not) and its lot."""

    device_code: str
    device: str
    kind: str
    specimen: str
    lot: str
    lot_expiry: datetime.date | None

    def initial(self) -> dict:
        return {
            "device_code": self.device_code,
            "device": "" if self.device_code else self.device,
            "kind": self.kind,
            "specimen": self.specimen,
            "lot": self.lot,
            "lot_expiry": self.lot_expiry,
        }

    @property
    def label(self) -> str:
        parts = [self.device or str(catalogue.TEST_KINDS[self.kind].label)]
        if self.lot:
            parts.append(_("lot %(lot)s") % {"lot": self.lot})
        if self.lot_expiry:
            parts.append(_("exp. %(date)s") % {"date": self.lot_expiry.strftime("%d/%m/%Y")})
        return " · ".join(parts)


def recent_boxes(pharmacy) -> list[Box]:
    """The pharmacy's latest boxes, newest first; expired lots are left out."""
    today = timezone.localdate()
    since = timezone.now() - datetime.timedelta(days=RECENT_DAYS)
    rows = (
        ScreeningTest.objects.for_pharmacy(pharmacy)
        .filter(created_at__gte=since, cancelled_at__isnull=True)
        .order_by("-created_at")
        .values_list("device_code", "device", "kind", "specimen", "lot", "lot_expiry")[:200]
    )
    boxes: dict[tuple, Box] = {}
    for row in rows:
        box = Box(*row)
        if not (box.device_code or box.device) or (box.lot_expiry and box.lot_expiry < today):
            continue
        boxes.setdefault((box.device_code, box.device, box.lot), box)
        if len(boxes) == RECENT_BOXES:
            break
    return list(boxes.values())


def chosen_box(boxes: list[Box], choice: str | None) -> Box | None:
    """The box picked on the page (?box=N), else the latest one."""
    if choice is not None and choice.isdigit() and int(choice) < len(boxes):
        return boxes[int(choice)]
    return boxes[0] if boxes else None


def box_lots(boxes: list[Box]) -> str:
    """The latest box's lot and expiry of each listed device, as JSON: relais.js offers
    them again when that device is chosen (and clears the lot for another)."""
    lots: dict[str, dict[str, str]] = {}
    for box in boxes:
        if box.device_code and box.device_code not in lots:
            expiry = box.lot_expiry.isoformat() if box.lot_expiry else ""
            lots[box.device_code] = {"lot": box.lot, "expiry": expiry}
    return json.dumps(lots)


def device_choices(boxes: list[Box]) -> list:
    """The device list: devices of recent boxes, then French kits, then the EU list of
    SARS-CoV-2 rapid antigen tests (active ones), each labelled with its code so that
    the list can be searched by name or code."""
    recent = list(dict.fromkeys(box.device_code for box in boxes if box.device_code))
    listed = [d for d in devices.DEVICES.values() if d.active]

    def option(device: devices.Device) -> tuple[str, str]:
        return device.code, f"{device.label} ({device.code})"

    return [
        ("", _("Unlisted device: type its name below")),
        (_("Used recently here"), [option(devices.DEVICES[code]) for code in recent]),
        (
            _("Multiplex, flu, RSV and strep A kits"),
            [option(d) for d in listed if not d.eu_listed],
        ),
        (
            _("EU list of SARS-CoV-2 rapid antigen tests"),
            [option(d) for d in listed if d.eu_listed],
        ),
    ]
