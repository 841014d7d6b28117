"""Fake invoices as real PDFs (fpdf2, core fonts, plain text cells) plus their ground truth.

``generate(directory, count=100, seed=0)`` writes ``invoice_001.pdf`` ... and ``ground_truth.json`` (a list
of dicts matching ``models.Invoice``, in file order). Everything, the PDF bytes included, is a function of
``seed`` and ``count``, so running it twice gives identical files (and a BatchManager state made from them
stays valid).

Layout (what ``responder.py`` parses, and what pypdf extracts, one line per row)::

    Smith & Sons Ltd.                                  <- issuer (company_name), first line of page 1
    1200 Harbor Road, Portland, OR 97201
    INVOICE
    Invoice Number: INV-2026-0042
    Invoice Date: 2026-03-14
    Bill To: Northwind Traders
    Currency: USD
    Description Qty Unit Price Line Total
    Ergonomic office chair 5 $250.00 $1,250.00         <- one line per item; continued on later pages
    ...
    Subtotal: $1,250.00                                <- totals on the last page
    Tax (8.25%): $103.13                               <- absent when the invoice has no tax
    Total Due: $1,353.13
    Page 1 of 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF

#: Currency code -> how amounts are written in the PDF (core fonts have no euro sign, hence "EUR ").
CURRENCIES = {"USD": "$", "GBP": "\u00a3", "EUR": "EUR "}

#: Rows of line items that fit on page 1 and on each later page.
ROWS_FIRST_PAGE = 10
ROWS_LATER_PAGE = 12
#: Rows' worth of space the totals block needs on the last page.
TOTALS_ROWS = 3

_COMPANY_STEMS = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Cyberdyne", "Soylent",
    "Tyrell", "Wonka", "Oscorp", "Pied Piper", "Blue Harbor", "Northwind", "Contoso", "Fabrikam", "Litware",
    "Tailspin", "Bluebird", "Red Maple", "Silver Birch", "Granite Peak", "Lakeside", "Summit Ridge",
    "Ironwood", "Copperline", "Brightwater", "Evergreen", "Smith & Sons", "Keller", "Novak", "Okafor",
    "Lindqvist", "Moreau", "Tanaka", "Delgado", "O'Brien", "Castellan",
]
_COMPANY_KINDS = [
    "Corp", "Industries", "LLC", "Ltd.", "& Co.", "Holdings", "Supply Co.", "Logistics", "GmbH", "Inc.",
    "Manufacturing", "Consulting Group", "Trading Co.", "Systems", "Partners",
]
_CUSTOMERS = [
    "Northwind Traders", "Adventure Works", "Proseware Inc.", "Wide World Importers", "Coho Winery",
    "Fourth Coffee", "Margie's Travel", "Alpine Ski House", "City Power & Light", "Trey Research",
    "Lucerne Publishing", "Woodgrove Bank", "School of Fine Art", "Graphic Design Institute",
]
_STREETS = ["Harbor Road", "Market Street", "Elm Avenue", "Industrial Park Way", "King Street", "Station Road",
            "Commerce Drive", "Mill Lane", "Oak Boulevard", "Canal Street"]
_CITIES = ["Portland, OR 97201", "Springfield, IL 62704", "Leeds LS1 4AP", "Austin, TX 78701",
           "Hamburg 20095", "Denver, CO 80202", "Bristol BS1 6QF", "Lyon 69002", "Columbus, OH 43215"]
_PRODUCTS = [
    "Ergonomic office chair", "Standing desk frame", "27-inch monitor", "USB-C docking station",
    "Wireless keyboard", "Optical mouse", "Laser printer toner", "Printer paper A4, box", "Cloud hosting (monthly)",
    "Software license, annual", "On-site support hour", "Network switch 24-port", "Cat6 patch cable 2m",
    "Stainless steel bolts M8", "Hydraulic pump seal kit", "Safety gloves, pair", "Hi-vis vest",
    "Pallet of copy paper", "Espresso machine service", "Coffee beans 1kg", "Conference room booking",
    "Consulting day rate", "Logo design package", "Website maintenance", "SSL certificate renewal",
    "Forklift rental, daily", "Shipping and handling", "Custom metal bracket", "LED panel light",
    "Extension cord 10m", "Whiteboard markers, set", "Filing cabinet", "Desk lamp", "Noise-cancelling headset",
    "Data migration service", "Training workshop seat", "Replacement filter cartridge", "Industrial degreaser 5L",
    "Cardboard boxes, bundle", "Bubble wrap roll", "Label printer", "Barcode scanner", "Tablet stand",
    "HDMI cable", "Solid-state drive 1TB", "Server rack rail kit", "Annual maintenance contract",
    "Translation services", "Catering for 20 guests", "Courier delivery",
]
#: Tax rates in basis points (825 = 8.25%).
_TAX_RATES_BP = [500, 625, 700, 725, 750, 800, 825, 875, 1000, 1300, 1900, 2000]


# ------------------------------------------------------------------------------------------- formatting

def format_money(amount: float, currency: str) -> str:
    """``1250.0, "USD"`` -> ``$1,250.00`` (how amounts appear in the PDFs)."""
    return f"{CURRENCIES[currency]}{amount:,.2f}"


def format_rate(rate: float) -> str:
    """``0.0825`` -> ``8.25%``; ``0.2`` -> ``20%``."""
    text = f"{Decimal(str(rate)) * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _cents_to_float(cents: int) -> float:
    return float(Decimal(cents) / 100)


# ------------------------------------------------------------------------------------------- generation

def _invoice_specs(count: int, seed: int) -> list[dict[str, Any]]:
    """The content of every invoice (amounts in cents); invoice i depends on ``seed`` and i only, so a
    smaller ``count`` gives a prefix of a larger one."""
    numbers = random.Random(seed).sample(range(1, 10_000), 999)  # distinct invoice numbers
    specs = []
    for i in range(count):
        rng = random.Random(f"invoice-{seed}-{i}")
        bucket = rng.random()
        n_items = rng.randint(1, 8) if bucket < 0.6 else rng.randint(9, 16) if bucket < 0.85 else rng.randint(17, 25)
        items = []
        for description in rng.sample(_PRODUCTS, n_items):
            quantity = rng.choice([1, 1, 2, 3, 4, 5, 6, 8, 10, 12, 20, 25, 50, 100])
            unit = int(round(10 ** rng.uniform(2.3, 5.4)))  # $2 .. $2,500
            items.append({"description": description, "quantity": quantity, "unit_cents": unit,
                          "total_cents": quantity * unit})
        tax_bp = None if rng.random() < 0.25 else rng.choice(_TAX_RATES_BP)
        subtotal = sum(item["total_cents"] for item in items)
        tax = 0 if tax_bp is None else (subtotal * tax_bp + 5_000) // 10_000  # half up
        date = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 180))
        specs.append({
            "invoice_number": f"INV-{rng.choice([2025, 2026])}-{numbers[i]:04d}",
            "company_name": f"{rng.choice(_COMPANY_STEMS)} {rng.choice(_COMPANY_KINDS)}",
            "address": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}",
            "customer": rng.choice(_CUSTOMERS),
            "date": date.isoformat(),
            "currency": rng.choices(list(CURRENCIES), weights=[6, 2, 2])[0],
            "items": items, "tax_bp": tax_bp, "subtotal_cents": subtotal, "tax_cents": tax,
            "total_cents": subtotal + tax,
        })
    return specs


def _ground_truth(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "invoice_number": spec["invoice_number"],
        "company_name": spec["company_name"],
        "total_amount": _cents_to_float(spec["total_cents"]),
        "items": [{"description": item["description"], "quantity": item["quantity"],
                   "unit_price": _cents_to_float(item["unit_cents"]),
                   "total": _cents_to_float(item["total_cents"])} for item in spec["items"]],
        "tax_rate": None if spec["tax_bp"] is None else float(Decimal(spec["tax_bp"]) / 10_000),
    }


def _pages(n_items: int) -> list[tuple[int, int]]:
    """Item index ranges per page; the last entry may be empty (a page holding only the totals)."""
    pages, start, capacity = [], 0, ROWS_FIRST_PAGE
    while True:
        end = min(n_items, start + capacity)
        pages.append((start, end))
        if end == n_items and end - start + TOTALS_ROWS <= capacity:
            return pages
        if end == n_items:  # the rows fit, the totals do not: they go on a page of their own
            pages.append((end, end))
            return pages
        start, capacity = end, ROWS_LATER_PAGE


def _render(spec: dict[str, Any], path: Path) -> int:
    """Write one invoice PDF; returns its page count."""
    money = lambda cents: format_money(_cents_to_float(cents), spec["currency"])  # noqa: E731
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))  # identical bytes on every run
    pdf.set_title(f"Invoice {spec['invoice_number']}")
    pdf.set_author(spec["company_name"])
    pages = _pages(len(spec["items"]))
    line = dict(new_x="LMARGIN", new_y="NEXT")
    for page_number, (start, end) in enumerate(pages, 1):
        pdf.add_page()
        if page_number == 1:
            pdf.set_font("Helvetica", "B", 18)
            pdf.cell(0, 10, spec["company_name"], **line)
            pdf.set_font("Helvetica", size=10)
            pdf.cell(0, 6, spec["address"], **line)
            pdf.ln(6)
            pdf.set_font("Helvetica", "B", 14)
            pdf.cell(0, 9, "INVOICE", **line)
            pdf.set_font("Helvetica", size=10)
            for text in (f"Invoice Number: {spec['invoice_number']}", f"Invoice Date: {spec['date']}",
                         f"Bill To: {spec['customer']}", f"Currency: {spec['currency']}"):
                pdf.cell(0, 6, text, **line)
        else:
            pdf.set_font("Helvetica", "I", 10)
            pdf.cell(0, 8, f"{spec['company_name']} - Invoice {spec['invoice_number']} (continued)", **line)
        pdf.ln(6)
        if end > start or page_number == 1:
            pdf.set_font("Helvetica", "B", 10)
            pdf.set_fill_color(230, 230, 230)
            for width, text, align in ((100, "Description", "L"), (20, "Qty", "R"), (35, "Unit Price", "R")):
                pdf.cell(width, 8, text, align=align, fill=True)
            pdf.cell(35, 8, "Line Total", align="R", fill=True, **line)
            pdf.set_font("Helvetica", size=10)
            for item in spec["items"][start:end]:
                pdf.cell(100, 10, item["description"])
                pdf.cell(20, 10, str(item["quantity"]), align="R")
                pdf.cell(35, 10, money(item["unit_cents"]), align="R")
                pdf.cell(35, 10, money(item["total_cents"]), align="R", **line)
        if page_number == len(pages):
            pdf.ln(6)
            pdf.cell(155, 7, "Subtotal:", align="R")
            pdf.cell(35, 7, money(spec["subtotal_cents"]), align="R", **line)
            if spec["tax_bp"] is not None:
                rate = format_rate(float(Decimal(spec["tax_bp"]) / 10_000))
                pdf.cell(155, 7, f"Tax ({rate}):", align="R")
                pdf.cell(35, 7, money(spec["tax_cents"]), align="R", **line)
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(155, 8, "Total Due:", align="R")
            pdf.cell(35, 8, money(spec["total_cents"]), align="R", **line)
            pdf.set_font("Helvetica", size=9)
            pdf.ln(8)
            pdf.cell(0, 6, "Payment terms: Net 30. Thank you for your business.", **line)
        pdf.set_xy(pdf.l_margin, 280)
        pdf.set_font("Helvetica", size=8)
        pdf.cell(0, 5, f"Page {page_number} of {len(pages)}", align="C")
    pdf.output(str(path))
    return len(pages)


def generate(directory: str | Path, count: int = 100, seed: int = 0) -> list[Path]:
    """Write ``count`` invoice PDFs and ``ground_truth.json`` into ``directory``; returns the PDF paths."""
    if count < 1 or count > 999:
        raise ValueError(f"count must be between 1 and 999, got {count}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    specs = _invoice_specs(count, seed)
    paths = []
    for number, spec in enumerate(specs, 1):
        path = directory / f"invoice_{number:03d}.pdf"
        _render(spec, path)
        paths.append(path)
    truth = [_ground_truth(spec) for spec in specs]
    (directory / "ground_truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
    return paths


def load_ground_truth(directory: str | Path) -> list[dict[str, Any]]:
    return json.loads((Path(directory) / "ground_truth.json").read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write fake invoice PDFs and ground_truth.json.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = generate(args.directory, args.count, args.seed)
    print(f"wrote {len(paths)} invoices and ground_truth.json to {args.directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
