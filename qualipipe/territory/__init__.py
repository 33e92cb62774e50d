"""Territorial portrait from INSEE data, and the organisations cited in the interviews.

- `insee`: reads the « base du comparateur de territoires » files as analysts download them;
- `storage`: keeps the rows the study needs (its communes, département totals) in `study.db`;
- `portrait`: the portrait figures of one territory, compared with its département(s);
- `charts`: the portrait's figures (matplotlib);
- `actors`: organisations cited in the texts, grouped by variant and ranked by citing participants;
- `actors_workbook`: the « déjà associé » / « à contacter » workbook and its import.

Nothing here imports `qualipipe.synthesize`: the synthesis turns these results into its tables.
"""
