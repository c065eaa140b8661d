# cmake -P script: installs dsae into PREFIX, then, against that prefix only:
#   1. configures consumers/ (the core consumer + one per component in
#      COMPONENTS, comma-separated), builds them with JOBS jobs, runs each
#      (it prints "consumer ok" after checking a property);
#   2. configures consumers/missing, which must fail with a message naming each
#      missing dependency, and warn about the missing build type;
#   3. with CUDA_COMPILER: configures and builds consumers/cuda (dsae::cuda), and
#      runs it (exit 77 = no CUDA device, reported as skipped).
# Prints the time of every phase.
# Inputs: BUILD_DIR PREFIX CONSUMER_SRC WORK COMPONENTS JOBS [CUDA_COMPILER CUDA_ARCHITECTURES]
string(TIMESTAMP _t_start "%s%f")
set(_t_last ${_t_start})
function(lap what)
  string(TIMESTAMP now "%s%f")
  math(EXPR ms "(${now} - ${_t_last}) / 1000")
  math(EXPR s "${ms} / 1000")
  math(EXPR d "(${ms} % 1000) / 100")
  message("[package] ${what}: ${s}.${d} s")
  set(_t_last ${now} PARENT_SCOPE)
endfunction()

function(run_checked what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message("${out}")
    message(FATAL_ERROR "${what} failed (${rc})")
  endif()
endfunction()

set(_comp_csv "${COMPONENTS}")
string(REPLACE "," ";" COMPONENTS "${COMPONENTS}")
file(REMOVE_RECURSE ${PREFIX} ${WORK})

run_checked("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
lap("install")

# ---- 1. core + components ------------------------------------------------
# Only the prefix is searched for dsae (CMAKE_FIND_USE_PACKAGE_REGISTRY off):
# the build tree must not stand in for the installed package.
set(_common -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run_checked("consumer configure" ${CMAKE_COMMAND} -S ${CONSUMER_SRC} -B ${WORK}/all
  ${_common} -DCMAKE_BUILD_TYPE=Release "-DDSAE_TEST_COMPONENTS=${_comp_csv}")
lap("configure core ${_comp_csv}")
run_checked("consumer build" ${CMAKE_COMMAND} --build ${WORK}/all --parallel ${JOBS})
lap("build core ${_comp_csv} (-j${JOBS})")
foreach(comp core ${COMPONENTS})
  execute_process(COMMAND ${WORK}/all/${comp}/consumer_${comp} WORKING_DIRECTORY ${WORK}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("[package] ${comp}: ${out}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer ok")
    message(FATAL_ERROR "consumer ${comp} failed (${rc})")
  endif()
endforeach()
# The tutorial's components (learnable prior, node-op term, slot, beta schedule), built
# against the installed package: gradient-checked and trained.
execute_process(COMMAND ${WORK}/all/tutorial/consumer_tutorial WORKING_DIRECTORY ${WORK}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("[package] tutorial: ${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "gradients ok")
  message(FATAL_ERROR "the tutorial built against the installed package failed (${rc})")
endif()
lap("run core ${_comp_csv}")

# ---- 2. a missing dependency is named -------------------------------------
# No CMAKE_BUILD_TYPE on purpose (the -O0 warning).
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SRC}/missing -B ${WORK}/missing
                  ${_common} -DCMAKE_DISABLE_FIND_PACKAGE_xtensor=ON
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message("${out}")
  message(FATAL_ERROR "consumers/missing configured although its REQUIRED components are missing")
endif()
foreach(expect
    "dsae is header-only and runs ~10x or more slower at -O0"
    "dsae component 'xtensor' needs xtensor \\(with xtl\\) and nlohmann_json 3 \\(CMake packages\\). Not found: xtensor"
    "dsae component 'audio' needs the pkg-config modules fluidsynth, sndfile, samplerate, fftw3, fftw3f and the xtensor component. Not found: .*the xtensor component"
    "dsae component 'cuda' needs the CUDA language enabled before find_package\\(dsae\\)"
    "dsae has no component 'nosuch' \\(it has: xtensor, audio, thrust, cuda\\)")
  # CMake wraps warning text at spaces: compare with whitespace runs folded.
  string(REGEX REPLACE "[ \n]+" " " _flat "${out}")
  string(REGEX REPLACE "[ \n]+" " " _expect "${expect}")
  if(NOT _flat MATCHES "${_expect}")
    message("${out}")
    message(FATAL_ERROR "consumers/missing: the configure output lacks \"${expect}\"")
  endif()
endforeach()
string(REGEX MATCHALL "dsae[^\n]*(needs|has no component)[^\n]*" _lines "${out}")
list(JOIN _lines "\n[package]   " _lines)
message("[package] missing components reported:\n[package]   ${_lines}")
lap("missing-component configure")

# ---- 3. dsae::cuda (nvcc) ---------------------------------------------------
if(CUDA_COMPILER)
  run_checked("cuda consumer configure" ${CMAKE_COMMAND} -S ${CONSUMER_SRC}/cuda -B ${WORK}/cuda
    ${_common} -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER}
    -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES})
  lap("configure cuda")
  run_checked("cuda consumer build" ${CMAKE_COMMAND} --build ${WORK}/cuda)
  lap("build cuda (nvcc)")
  execute_process(COMMAND ${WORK}/cuda/consumer_cuda RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("[package] cuda: ${out}")
  if(NOT (rc EQUAL 77 OR (rc EQUAL 0 AND out MATCHES "consumer ok")))
    message(FATAL_ERROR "consumer cuda failed (${rc})")
  endif()
else()
  message("[package] cuda: not tested (the dsae build found no nvcc)")
endif()

set(_t_last ${_t_start})
lap("total")
