INSERT INTO validated.quarantine BY NAME SELECT * FROM quarantine_rows;
