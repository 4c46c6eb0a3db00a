# Compiler flags, build types and the rw_library() helper shared by every folder.

set(RW_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wvla -Wformat=2 -Wdouble-promotion)
if(RW_WERROR)
  list(APPEND RW_WARNINGS -Werror)
endif()
add_compile_options(${RW_WARNINGS})
# With fuzzing on, every library carries coverage instrumentation; otherwise libFuzzer sees
# only the harness and mutates blind. The fuzz executables add -fsanitize=fuzzer to link.
if(RW_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "RW_FUZZ=ON needs clang (libFuzzer)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
add_compile_definitions(_POSIX_C_SOURCE=200809L)

# Build types. No -Ofast/-ffast-math anywhere: references and tests keep IEEE semantics.
set(CMAKE_C_FLAGS_RELEASE "-O2 -DNDEBUG -g1")
set(CMAKE_C_FLAGS_DEBUG "-O0 -g3 -DRW_DEBUG=1")
set(CMAKE_C_FLAGS_SANITIZE "-O1 -g -DRW_DEBUG=1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all")
set(CMAKE_EXE_LINKER_FLAGS_SANITIZE "-fsanitize=address,undefined")
set(CMAKE_SHARED_LINKER_FLAGS_SANITIZE "-fsanitize=address,undefined")

# Per-ISA kernel files carry their own target flags; everything else stays baseline x86-64,
# and kernels/ picks a variant at run time from CPU features.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86)$")
  set(RW_X86 ON)
else()
  set(RW_X86 OFF)
endif()
set(RW_FLAGS_AVX2 -mavx2 -mfma -mf16c)
set(RW_FLAGS_AVX512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx512bf16 -mavx2 -mfma -mf16c)

# -Wconversion for kernels and for the parsers of untrusted input (CONVENTIONS.md).
set(RW_CONVERSION_WARNINGS -Wconversion -Wno-sign-conversion)

# rw_library(<name> [DEPS targets...] [STRICT])
#   Builds rw_<name> from <folder>/*.c; every <folder>/main/*.c becomes an executable of
#   the same name (rag-gguf.c -> rag-gguf) in ${CMAKE_BINARY_DIR}/bin.
#   Files ending _avx2.c / _avx512.c get the ISA flags above. STRICT adds -Wconversion to
#   the whole folder; parsers elsewhere add it per file with rw_strict_sources().
function(rw_library name)
  cmake_parse_arguments(A "STRICT" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  if(NOT RW_X86)
    # the x86 SIMD files; C code names them only under KERN_X86 (kernels/cpu.h)
    list(FILTER srcs EXCLUDE REGEX "_avx(2|512)\\.c$")
  endif()
  set(lib rw_${name})
  if(srcs)
    add_library(${lib} STATIC ${srcs})
    set(scope PUBLIC)
  else()
    add_library(${lib} INTERFACE)
    set(scope INTERFACE)
  endif()
  set(inc ${CMAKE_BINARY_DIR}/include/${name})
  file(MAKE_DIRECTORY ${inc})
  if(NOT EXISTS ${inc}/${name})
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${inc}/${name} SYMBOLIC)
  endif()
  target_include_directories(${lib} ${scope} ${inc})
  if(A_DEPS)
    target_link_libraries(${lib} ${scope} ${A_DEPS})
  endif()
  if(A_STRICT AND srcs)
    target_compile_options(${lib} PRIVATE ${RW_CONVERSION_WARNINGS})
  endif()
  foreach(s ${srcs})
    if(s MATCHES "_avx2\\.c$")
      set_source_files_properties(${s} PROPERTIES COMPILE_OPTIONS "${RW_FLAGS_AVX2}")
    elseif(s MATCHES "_avx512\\.c$")
      set_source_files_properties(${s} PROPERTIES COMPILE_OPTIONS "${RW_FLAGS_AVX512}")
    endif()
  endforeach()
  file(GLOB mains CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/main/*.c)
  foreach(m ${mains})
    get_filename_component(exe ${m} NAME_WE)
    add_executable(${exe} ${m})
    target_link_libraries(${exe} PRIVATE ${lib})
    set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  endforeach()
endfunction()

# rw_strict_sources(files...): -Wconversion on parser sources outside kernels/.
function(rw_strict_sources)
  foreach(f ${ARGN})
    set_property(SOURCE ${f} APPEND PROPERTY COMPILE_OPTIONS ${RW_CONVERSION_WARNINGS})
  endforeach()
endfunction()

# rw_test(<name> SOURCES files... LIBS targets... [LABELS labels...] [ARGS args...])
#   A cmocka test executable registered with CTest. Exit code 77 means "skipped"
#   (used when ../shared is absent). RW_SHARED_DIR and the build's bin folder are passed
#   in the environment so tests find references and the CLIs they drive.
function(rw_test name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE rw_testlib ${A_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name} ${A_ARGS})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${A_LABELS}" SKIP_RETURN_CODE 77
    ENVIRONMENT "RW_SHARED_DIR=${RW_SHARED_DIR};RW_BIN_DIR=${CMAKE_BINARY_DIR}/bin;RW_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()
