"""Operations: health and metrics endpoint, logging."""
