# CUDA toolchain for the Thrust backend's CUDA targets (tests/thrust, bench/gpu).
# Sets DSAE_CUDA_FOUND and defines dsae_cuda_target(<target>), which makes a
# target compile its .cu sources for the CUDA device system and link cuBLAS.
# nvcc is looked up on PATH / CUDACXX, then at /usr/local/cuda/bin/nvcc.
# Architectures: CMAKE_CUDA_ARCHITECTURES, default 90 (H100/H200).
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures of the dsae CUDA targets")
endif()
option(DSAE_ENABLE_CUDA "Build the Thrust backend's CUDA targets when nvcc is found" ON)
set(DSAE_CUDA_FOUND OFF)
if(DSAE_ENABLE_CUDA)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    # CMake < 3.26 does not know nvcc's C++20 dialect flag: tell it (the
    # variables are read in the scope of the directory defining the target).
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cublas)
      set(DSAE_CUDA_FOUND ON)
    endif()
  endif()
endif()

function(dsae_cuda_target tgt)
  set_target_properties(${tgt} PROPERTIES CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON
    CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
  target_include_directories(${tgt} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  # Eigen (the cpu<T> reference in tests) and Random123 headers; no OpenMP here.
  target_link_libraries(${tgt} PRIVATE Eigen3::Eigen dsae::random123 CUDA::cublas CUDA::cudart)
  # Eigen's host/device annotations trigger harmless nvcc diagnostics.
  target_compile_options(${tgt} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-diag-suppress=20012,20013,20015 -Xcompiler=-Wno-deprecated-declarations>)
endfunction()
