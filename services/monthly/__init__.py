"""The monthly report for the company meeting: one self-contained HTML file (and a PDF printed from it)."""
