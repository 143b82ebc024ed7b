"""Packaged data the demo and the evaluation suites draw on: emoji and their CLDR names
(`emoji`), country and language names (`cldr`), frequent words (`words`) and OpenMoji drawings
rendered to PNG (`render`). Nothing here is downloaded."""
