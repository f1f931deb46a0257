# Every tests/unit/test_<module>.c is a cmocka suite; every tests/integration/test_*.c runs the
# real binaries on 127.0.0.1. Both are registered with ctest.
file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ttdm_app ttdm_sim_lib PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES TIMEOUT 120 LABELS unit)
endforeach()

file(GLOB HARNESS_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/harness*.c)
file(GLOB INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.c)
if(HARNESS_SRC)
  add_library(ttdm_harness STATIC ${HARNESS_SRC})
  target_link_libraries(ttdm_harness PUBLIC ttdm_util PkgConfig::CMOCKA)
  target_compile_definitions(ttdm_harness PRIVATE
    TTDM_BIN="$<TARGET_FILE:ttdm>" TTDM_SIM_BIN="$<TARGET_FILE:ttdm-sim>")
endif()
foreach(src ${INTEGRATION_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ttdm_harness PkgConfig::CMOCKA)
  add_dependencies(${name} ttdm ttdm-sim)
  add_test(NAME integration.${name} COMMAND ${name})
  set_tests_properties(integration.${name} PROPERTIES TIMEOUT 300 LABELS integration)
endforeach()

# The dashboard in a real browser (tests/browser/): Playwright drives Debian's Chromium
# against the built ttdm and ttdm-sim, in every build (under a minute; in the sanitizer
# build it is what runs src/http/static.c under ASan). Registered when node is installed;
# -DTTDM_BROWSER_TESTS=OFF leaves it out.
find_program(TTDM_NODE node)
option(TTDM_BROWSER_TESTS "Run the dashboard's browser suite (needs node and chromium)" ON)
if(TTDM_NODE AND TTDM_BROWSER_TESTS)
  add_test(NAME browser.dashboard COMMAND bash ${CMAKE_SOURCE_DIR}/tests/browser/run.sh)
  set_tests_properties(browser.dashboard PROPERTIES TIMEOUT 600 LABELS browser
    ENVIRONMENT "TTDM_BIN=$<TARGET_FILE:ttdm>;TTDM_SIM_BIN=$<TARGET_FILE:ttdm-sim>;TTDM_TEST_OUTPUT=${CMAKE_BINARY_DIR}/test-output")
endif()
