// tests/eval/model_eval: encode_all and evaluate_labelled (eval/model_eval.hpp) on trained
// and untrained models; a test of its own because it needs nlohmann_json and trains a model.
#define BOOST_TEST_MODULE dsae_model_eval
#include <boost/test/unit_test.hpp>
