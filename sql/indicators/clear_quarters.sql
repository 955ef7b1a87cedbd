-- The table name is a fixed identifier chosen by the asset; quarters come from as_of_dates.
DELETE FROM {table} WHERE quarter IN (SELECT quarter FROM as_of_dates);
