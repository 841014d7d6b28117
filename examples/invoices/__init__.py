"""Invoice extraction example: 100 fake PDF invoices -> validated ``Invoice`` models with field citations.

Modules: ``make_invoices`` (PDFs + ground truth), ``models`` (the seed's pydantic models), ``responder``
(the emulator's stand-in for Claude), ``run`` (the BatchManager run as a script).
"""
