// tests/eval: LDA (scikit-learn parity), F1, swap protocol, RPA (mir_eval parity),
// Frechet distance (scipy parity) and the figure script. Python peers run through
// DSAE_PYTHON; a missing peer skips its test visibly ("SKIPPED: ...").
#define BOOST_TEST_MODULE dsae_eval
#include <boost/test/unit_test.hpp>
