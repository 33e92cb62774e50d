"""Surveys: instruments written once in YAML, the .lss LimeSurvey imports, the LimeSurvey client."""
