"""The message wing: report helpers (tables, inline images) and the finishing of bodies before composing."""
