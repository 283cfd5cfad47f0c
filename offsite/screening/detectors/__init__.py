"""One module per rule family; each ``detect(prepared, params)`` returns hits (``hits.HITS``)."""
