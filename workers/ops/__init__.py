"""Operations: status, metrics, logs, bulk actions and the pipeline benchmark."""
