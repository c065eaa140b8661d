#define BOOST_TEST_MODULE dsae_model_parity
#include <boost/test/unit_test.hpp>
