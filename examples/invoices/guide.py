"""The shared instructions every invoice request carries: extraction rules and worked examples.

Worked examples are what an analyst adds once the first answers come back slightly off (a tax rate as a
percentage, a subtotal taken for the total, a continued page's header read as a line item). They make the
instructions long, about 6,000 tokens, and the same for all 100 requests: a prefix worth caching. batchnb
marks it with a one-hour ``cache_control`` (``PromptCache(prefix=None)``, the default, marks it when it
pays: here it is over Haiku 4.5's 4,096-token minimum), so every request after the first reads it at a
tenth of the input price instead of paying it in full.

The examples are invoices of another seed than the run's (``make_invoices._invoice_specs``), written out as
their PDF prints them, each with the answer expected for it.
"""

from __future__ import annotations

import json

from invoices.make_invoices import _cents_to_float, _ground_truth, _invoice_specs, format_money, format_rate

#: Seed of the worked examples' invoices (the run's invoices use seed 0 by default).
EXAMPLES_SEED = 2026
#: Worked examples included.
EXAMPLES = 14

RULES = """You extract structured data from supplier invoices for an accounts-payable team.

Rules for each field:
- invoice_number: the identifier printed after "Invoice Number", exactly as printed (keep prefixes,
  dashes and leading zeros). Never use a purchase-order number, a customer number or a page number.
- company_name: the supplier that issued the invoice (the name at the top of the first page), exactly as
  printed, legal suffix included ("Ltd.", "GmbH", "& Co."). Never the "Bill To" customer.
- total_amount: the amount due, tax included: the figure after "Total Due" on the last page, as a plain
  number without currency symbol or thousands separators (1,250.00 becomes 1250.0). Never the subtotal.
- items: every line item in the order printed, across all pages. A page headed "(continued)" carries on
  the same table; its header line is not an item. Each item has:
  - description: the text of the Description column, exactly as printed;
  - quantity: the Qty column, as an integer;
  - unit_price: the Unit Price column, as a plain number;
  - total: the Line Total column, as a plain number (do not recompute it; copy what is printed).
- tax_rate: the rate printed in the "Tax (...)" line as a fraction (8.25% becomes 0.0825, 20% becomes
  0.2). When the invoice shows no tax line, tax_rate is null (not 0).

Amounts may be in dollars ($), pounds (£) or euros (EUR); the currency does not change the numbers you
write. Do not round: keep the cents as printed. Cite the text each value comes from.

Worked examples follow: each invoice as its PDF prints it, then the answer expected for it."""


def _printed(spec: dict) -> str:
    """An invoice's text as its PDF prints it (header, line items, totals), page breaks left out."""
    money = lambda cents: format_money(_cents_to_float(cents), spec["currency"])  # noqa: E731
    lines = [spec["company_name"], spec["address"], "INVOICE", f"Invoice Number: {spec['invoice_number']}",
             f"Invoice Date: {spec['date']}", f"Bill To: {spec['customer']}", f"Currency: {spec['currency']}",
             "Description | Qty | Unit Price | Line Total"]
    lines += [f"{item['description']} | {item['quantity']} | {money(item['unit_cents'])} | "
              f"{money(item['total_cents'])}" for item in spec["items"]]
    lines.append(f"Subtotal: {money(spec['subtotal_cents'])}")
    if spec["tax_bp"] is not None:
        lines.append(f"Tax ({format_rate(spec['tax_bp'] / 10_000)}): {money(spec['tax_cents'])}")
    lines.append(f"Total Due: {money(spec['total_cents'])}")
    return "\n".join(lines)


def extraction_guide() -> str:
    """The rules, then ``EXAMPLES`` worked examples (the same text on every call)."""
    parts = [RULES]
    for number, spec in enumerate(_invoice_specs(EXAMPLES, EXAMPLES_SEED), 1):
        answer = json.dumps(_ground_truth(spec), separators=(", ", ": "))
        parts.append(f"Example {number}\nInvoice:\n{_printed(spec)}\nAnswer:\n{answer}")
    return "\n\n".join(parts)
