-- Whether every record of a CSV file has exactly the header's number of fields: DuckDB's strict
-- parser fails on the first that does not. The dialect is fixed (no sniffing): comma, double
-- quote doubled to escape, header on the first line; $columns names one VARCHAR per header field.
SELECT count(*)
FROM read_csv(
    $path,
    auto_detect = false,
    header = true,
    delim = ',',
    quote = '"',
    escape = '"',
    strict_mode = true,
    null_padding = false,
    max_line_size = $max_line_size,
    columns = $columns
);
