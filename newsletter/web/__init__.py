"""HTTP: public pages, the admin UI and the JSON API. Routes are thin: parse, call, render."""
