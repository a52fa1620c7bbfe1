"""Applications built on the generic toolkit. Each registers its space, task, commands and export pieces
through the same entry points a third-party plugin uses; the generic packages import nothing from here
(an import-linter contract checks it)."""
