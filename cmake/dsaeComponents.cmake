# Opt-in components of dsae, defined as IMPORTED INTERFACE targets so the same
# file serves the build tree and an installed package (dsaeConfig includes it).
# A component exists only when its dependencies are found.
#   dsae::xtensor  xtensor/xtl arrays, .npy I/O, datasets (+ nlohmann_json manifests)
#   dsae::audio    FluidSynth, libsndfile, libsamplerate, FFTW3 (audio + datasets)
#   dsae::thrust   Thrust backend on the OMP device system (g++)
#   dsae::cuda     Thrust backend on CUDA + cuBLAS (nvcc)
set(DSAE_COMPONENT_TARGETS "")

find_package(xtl QUIET)
find_package(xtensor QUIET)
find_package(nlohmann_json 3 QUIET)
if(xtensor_FOUND AND nlohmann_json_FOUND AND NOT TARGET dsae::xtensor)
  # Datasets carry a JSON manifest, hence nlohmann_json.
  add_library(dsae::xtensor INTERFACE IMPORTED GLOBAL)
  target_link_libraries(dsae::xtensor INTERFACE dsae::dsae xtensor nlohmann_json::nlohmann_json)
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND AND NOT TARGET dsae::audio)
  pkg_check_modules(DSAE_FLUIDSYNTH QUIET IMPORTED_TARGET GLOBAL fluidsynth)
  pkg_check_modules(DSAE_SNDFILE QUIET IMPORTED_TARGET GLOBAL sndfile)
  pkg_check_modules(DSAE_SAMPLERATE QUIET IMPORTED_TARGET GLOBAL samplerate)
  pkg_check_modules(DSAE_FFTW QUIET IMPORTED_TARGET GLOBAL fftw3 fftw3f)
  if(DSAE_FLUIDSYNTH_FOUND AND DSAE_SNDFILE_FOUND AND DSAE_SAMPLERATE_FOUND AND DSAE_FFTW_FOUND AND TARGET dsae::xtensor)
    add_library(dsae::audio INTERFACE IMPORTED GLOBAL)
    target_link_libraries(dsae::audio INTERFACE dsae::xtensor
      PkgConfig::DSAE_FLUIDSYNTH PkgConfig::DSAE_SNDFILE
      PkgConfig::DSAE_SAMPLERATE PkgConfig::DSAE_FFTW)
  endif()
endif()

# Thrust on the OMP device system. CCCL 3 from the CUDA toolkit is preferred so
# that g++ and nvcc builds use one Thrust version (see docs/architecture.md).
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
      THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP DSAE_HAS_THRUST=1)
    target_link_libraries(dsae::thrust INTERFACE dsae::dsae OpenMP::OpenMP_CXX)
  endif()
endif()
