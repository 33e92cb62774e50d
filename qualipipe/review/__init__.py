"""Review: workbook export, decisions import, agreement between coders."""
