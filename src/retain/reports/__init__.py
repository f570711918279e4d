"""Tables (Markdown, CSV, LaTeX) and figures of finished runs and sweeps, read from their directories."""
