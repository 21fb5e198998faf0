"""One module per helpdesk: ``map_delivery(body, headers, tenant) -> Mapped`` (pure)."""
