"""Sphinx extension of the dalib book: each script once per page.

sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) on every
``env-before-read-docs`` event, once with the file name ``None`` and once with ``""``; a page then
declares the constant twice and throws "Identifier 'THEBE_JS_URL' has already been declared". This
drops a script that a page lists a second time (same file, or same inline body, and attributes)."""


def _key(js):
    attrs = getattr(js, "attributes", None) or {}
    return (getattr(js, "filename", None) or "", tuple(sorted((k, str(v)) for k, v in attrs.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        k = _key(js)
        if k not in seen:
            seen.add(k)
            kept.append(js)
    context["script_files"][:] = kept  # in place: the template may hold the same list


def setup(app):
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
