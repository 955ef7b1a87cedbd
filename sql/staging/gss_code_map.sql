SELECT code, council_code FROM validated.council_code_map;
