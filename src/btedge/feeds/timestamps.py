"""Timestamps and bar spacing: the one owner of both.

Parsing (date-format guess, gzip sniffing, timestamp-column detection by name and content,
banner-line skipping) and bar spacing (timeframe, compression and periods per year from trading
sessions) are inferred here and nowhere else.
"""
from __future__ import annotations

# --- parsing -----------------------------------------------------------------------------------

# --- bar spacing -------------------------------------------------------------------------------
