DELETE FROM validated.quarantine WHERE source_id = $source_id;
