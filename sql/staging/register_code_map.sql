SELECT register_code AS code, gss_code AS council_code FROM validated.council_register;
