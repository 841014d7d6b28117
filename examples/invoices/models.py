"""The seed's response models for the invoice example (exactly as specified there)."""

from typing import List, Optional

from pydantic import BaseModel


class InvoiceItem(BaseModel):
    description: str
    quantity: int
    unit_price: float
    total: float


class Invoice(BaseModel):
    invoice_number: str
    company_name: str
    total_amount: float
    items: List[InvoiceItem]
    tax_rate: Optional[float] = None
