# Install rules and the package config: find_package(inpaint) gives inpaint::inpaint (C++)
# and inpaint::inpaint_c (C). Neither needs LibTorch or OpenCV headers to compile against, and
# neither links LibTorch: the torch backend is a module in lib/inpaint/, loaded on first use.
include(CMakePackageConfigHelpers)

install(TARGETS inpaint inpaint_c EXPORT inpaintTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY libinpaint/include/inpaint DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
install(FILES ${CMAKE_BINARY_DIR}/libinpaint/include/inpaint/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/inpaint)
install(FILES capi/include/inpaint.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET inpaint_torch)
  # Loaded on first use from lib/inpaint/ beside libinpaint (src/backends/loader.cpp).
  install(TARGETS inpaint_torch LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/inpaint)
endif()
if(INPAINT_BUILD_CLI)
  install(TARGETS inpaint_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(INPAINT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/inpaint)
install(EXPORT inpaintTargets NAMESPACE inpaint:: DESTINATION ${INPAINT_CMAKE_DIR})
configure_package_config_file(cmake/inpaintConfig.cmake.in
  ${CMAKE_BINARY_DIR}/inpaintConfig.cmake INSTALL_DESTINATION ${INPAINT_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/inpaintConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/inpaintConfig.cmake ${CMAKE_BINARY_DIR}/inpaintConfigVersion.cmake
  DESTINATION ${INPAINT_CMAKE_DIR})
