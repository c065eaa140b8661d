# What every user of dsae gets beside the core target: the opt-in components
# and a build-type check. One file serves the build tree (CMakeLists.txt) and
# the installed package (dsaeConfig.cmake includes it), so both define the
# same targets the same way.
#
# Components are IMPORTED INTERFACE targets, defined whenever their
# dependencies are found, whether or not find_package asked for them (an
# unused target costs nothing). For each missing one, DSAE_<COMP>_MISSING
# says what it needs; dsaeConfig reports that for a REQUIRED component.
#   dsae::xtensor  xtensor/xtl arrays, .npy I/O, datasets (+ nlohmann_json manifests)
#   dsae::audio    FluidSynth, libsndfile, libsamplerate, FFTW3 (audio + datasets)
#   dsae::thrust   Thrust backend on the OMP device system (g++)
#   dsae::cuda     Thrust backend on the CUDA device system + cuBLAS (nvcc); only
#                  where the CUDA language is enabled before this file runs
set(DSAE_COMPONENTS xtensor audio thrust cuda)

# ---- build type -----------------------------------------------------------
# Header-only: the user's flags compile dsae. Without a build type a
# single-config generator compiles at -O0, ~10x or more slower (a TS-DSAE
# training step: 13x). Warn once per configure rather than change the user's
# flags behind their back.
get_property(_dsae_multi GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
get_property(_dsae_warned GLOBAL PROPERTY DSAE_BUILD_TYPE_WARNED)
if(NOT CMAKE_BUILD_TYPE AND NOT _dsae_multi AND NOT _dsae_warned)
  set_property(GLOBAL PROPERTY DSAE_BUILD_TYPE_WARNED ON)
  message(WARNING "dsae is header-only and runs ~10x or more slower at -O0 (no "
    "CMAKE_BUILD_TYPE set); set CMAKE_BUILD_TYPE=Release (or RelWithDebInfo).")
endif()

# DSAE_<COMP>_MISSING = "dsae component '<comp>' needs <needs>. Not found: <absent>".
function(_dsae_missing comp needs absent)
  list(JOIN absent ", " absent)
  string(TOUPPER ${comp} up)
  set(DSAE_${up}_MISSING "dsae component '${comp}' needs ${needs}. Not found: ${absent}" PARENT_SCOPE)
endfunction()

# ---- dsae::xtensor ----------------------------------------------------------
find_package(xtl QUIET)
find_package(xtensor QUIET)
find_package(nlohmann_json 3 QUIET)
set(DSAE_XTENSOR_MISSING "")
if(NOT TARGET dsae::xtensor)
  set(_dsae_absent "")
  if(NOT xtensor_FOUND)
    list(APPEND _dsae_absent xtensor)
  endif()
  if(NOT nlohmann_json_FOUND)
    list(APPEND _dsae_absent nlohmann_json)
  endif()
  if(_dsae_absent)
    _dsae_missing(xtensor "xtensor (with xtl) and nlohmann_json 3 (CMake packages)" "${_dsae_absent}")
  else()
    # Datasets carry a JSON manifest, hence nlohmann_json.
    add_library(dsae::xtensor INTERFACE IMPORTED GLOBAL)
    target_link_libraries(dsae::xtensor INTERFACE dsae::dsae xtensor nlohmann_json::nlohmann_json)
  endif()
endif()

# ---- dsae::audio ------------------------------------------------------------
set(DSAE_AUDIO_MISSING "")
if(NOT TARGET dsae::audio)
  set(_dsae_absent "")
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(DSAE_FLUIDSYNTH QUIET IMPORTED_TARGET GLOBAL fluidsynth)
    pkg_check_modules(DSAE_SNDFILE QUIET IMPORTED_TARGET GLOBAL sndfile)
    pkg_check_modules(DSAE_SAMPLERATE QUIET IMPORTED_TARGET GLOBAL samplerate)
    pkg_check_modules(DSAE_FFTW QUIET IMPORTED_TARGET GLOBAL fftw3 fftw3f)
    foreach(_dsae_mod fluidsynth sndfile samplerate fftw)
      string(TOUPPER ${_dsae_mod} _dsae_var)
      if(NOT DSAE_${_dsae_var}_FOUND)
        string(REPLACE fftw fftw3/fftw3f _dsae_mod ${_dsae_mod})
        list(APPEND _dsae_absent ${_dsae_mod})
      endif()
    endforeach()
  else()
    list(APPEND _dsae_absent pkg-config)
  endif()
  if(NOT TARGET dsae::xtensor)
    list(APPEND _dsae_absent "the xtensor component")
  endif()
  if(_dsae_absent)
    _dsae_missing(audio "the pkg-config modules fluidsynth, sndfile, samplerate, fftw3, fftw3f \
and the xtensor component" "${_dsae_absent}")
  else()
    add_library(dsae::audio INTERFACE IMPORTED GLOBAL)
    target_link_libraries(dsae::audio INTERFACE dsae::xtensor
      PkgConfig::DSAE_FLUIDSYNTH PkgConfig::DSAE_SNDFILE
      PkgConfig::DSAE_SAMPLERATE PkgConfig::DSAE_FFTW)
  endif()
endif()

# ---- dsae::thrust -----------------------------------------------------------
# Thrust on the OMP device system. CCCL 3 from the CUDA toolkit is preferred so
# that g++ and nvcc builds use one Thrust version (docs/thrust.md).
set(DSAE_THRUST_MISSING "")
if(NOT TARGET dsae::thrust)
  find_path(DSAE_THRUST_INCLUDE_DIR thrust/version.h
    HINTS /usr/local/cuda/include/cccl /usr/local/cuda/include
    NO_DEFAULT_PATH)
  if(NOT DSAE_THRUST_INCLUDE_DIR)
    find_path(DSAE_THRUST_INCLUDE_DIR thrust/version.h)
  endif()
  find_package(OpenMP QUIET)
  if(DSAE_THRUST_INCLUDE_DIR AND OpenMP_CXX_FOUND)
    add_library(dsae::thrust INTERFACE IMPORTED GLOBAL)
    target_include_directories(dsae::thrust INTERFACE ${DSAE_THRUST_INCLUDE_DIR})
    target_compile_definitions(dsae::thrust INTERFACE
      THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
    target_link_libraries(dsae::thrust INTERFACE dsae::dsae OpenMP::OpenMP_CXX)
  else()
    set(_dsae_absent "")
    if(NOT DSAE_THRUST_INCLUDE_DIR)
      list(APPEND _dsae_absent "thrust/version.h")
    endif()
    if(NOT OpenMP_CXX_FOUND)
      list(APPEND _dsae_absent "OpenMP (C++)")
    endif()
    _dsae_missing(thrust "the Thrust headers (CCCL, e.g. from the CUDA toolkit) and OpenMP \
for C++" "${_dsae_absent}")
  endif()
endif()

# ---- dsae::cuda -------------------------------------------------------------
# The same backend compiled by nvcc: translation units that include
# <dsae/backend/thrust.hpp> are CUDA sources (.cu or LANGUAGE CUDA), Thrust
# uses its default CUDA device system and GEMMs go to cuBLAS. The user picks
# the CUDA compiler and architectures (enable_language(CUDA),
# CMAKE_CUDA_ARCHITECTURES), so this file never enables CUDA itself.
set(DSAE_CUDA_MISSING "")
if(NOT TARGET dsae::cuda)
  get_property(_dsae_langs GLOBAL PROPERTY ENABLED_LANGUAGES)
  if("CUDA" IN_LIST _dsae_langs)
    find_package(CUDAToolkit QUIET)
  endif()
  set(_dsae_needs "the CUDA language enabled before find_package(dsae) (project(... LANGUAGES \
CXX CUDA) or enable_language(CUDA)) and the CUDA toolkit with cuBLAS")
  if(NOT "CUDA" IN_LIST _dsae_langs)
    _dsae_missing(cuda "${_dsae_needs}" "the CUDA language (not enabled)")
  elseif(NOT TARGET CUDA::cublas)
    _dsae_missing(cuda "${_dsae_needs}" "CUDA::cublas (find_package(CUDAToolkit))")
  else()
    add_library(dsae::cuda INTERFACE IMPORTED GLOBAL)
    # No CUDA::cudart: linking CUDA code already adds the runtime the user
    # chose (CUDA_RUNTIME_LIBRARY, static by default); a second one would mix two.
    target_link_libraries(dsae::cuda INTERFACE dsae::dsae CUDA::cublas)
    # C++20 in CUDA sources. CMake < 3.26 does not know nvcc's C++20 flag
    # (cuda_std_20 is absent from its feature list), so pass it directly there.
    if("cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES)
      target_compile_features(dsae::cuda INTERFACE cuda_std_20)
    else()
      target_compile_options(dsae::cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
    endif()
    # Eigen's host/device annotations trigger harmless nvcc diagnostics.
    target_compile_options(dsae::cuda INTERFACE
      $<$<COMPILE_LANGUAGE:CUDA>:-diag-suppress=20012,20013,20015 -Xcompiler=-Wno-deprecated-declarations>)
  endif()
endif()
