"""Lists the Autobahn case ids a spec selects, one per line.

Runs inside the suite's own Python 2.7 virtualenv, so the selection is the
suite's: the same patterns and exclusions that wstest itself applies.

    python cases.py '1.*,2.*' '12.*,13.*'
"""
from __future__ import print_function

import sys

from autobahntestsuite.case import (CaseBasename, CaseCategories, Cases,
                                    CaseSetname, CaseSubCategories)
from autobahntestsuite.caseset import CaseSet


def split(csv):
    return [p.strip() for p in csv.split(",") if p.strip()]


def main():
    include, exclude = split(sys.argv[1]), split(sys.argv[2])
    suite = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories,
                    CaseSubCategories)
    for pattern in include + exclude:
        if "*" not in pattern and pattern not in suite.CasesIndices:
            sys.exit("no such Autobahn case: %s" % pattern)
    for case in suite.parseSpecCases({"cases": include,
                                      "exclude-cases": exclude}):
        print(case)


if __name__ == "__main__":
    main()
