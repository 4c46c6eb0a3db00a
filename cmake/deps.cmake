# External libraries, all from Debian packages (scripts/install-deps.sh installs them).
# Each becomes an imported target named rw::<lib> so folders link what they may use.
find_package(PkgConfig REQUIRED)

pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(HDF5 REQUIRED IMPORTED_TARGET hdf5-serial)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo cairo-svg)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

add_library(rw::openblas ALIAS PkgConfig::OPENBLAS)
add_library(rw::lapacke ALIAS PkgConfig::LAPACKE)
add_library(rw::sqlite3 ALIAS PkgConfig::SQLITE3)
add_library(rw::jansson ALIAS PkgConfig::JANSSON)
add_library(rw::hdf5 ALIAS PkgConfig::HDF5)
add_library(rw::pcre2 ALIAS PkgConfig::PCRE2)
add_library(rw::utf8proc ALIAS PkgConfig::UTF8PROC)
add_library(rw::mhd ALIAS PkgConfig::MHD)
add_library(rw::cairo ALIAS PkgConfig::CAIRO)
add_library(rw::cmocka ALIAS PkgConfig::CMOCKA)

# GSL without its own CBLAS: OpenBLAS provides the cblas_* symbols, so a program linking
# both never carries two different cblas_sgemm implementations.
find_library(RW_GSL_LIB gsl REQUIRED)
add_library(rw_ext_gsl INTERFACE)
target_link_libraries(rw_ext_gsl INTERFACE ${RW_GSL_LIB} PkgConfig::OPENBLAS m)
add_library(rw::gsl ALIAS rw_ext_gsl)

# SHA-256 for file identities (registry, checkpoints, manifests): OpenSSL's libcrypto.
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
add_library(rw::crypto ALIAS PkgConfig::LIBCRYPTO)
