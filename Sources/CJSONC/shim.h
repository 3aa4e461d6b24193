// json-c's public API (pkg-config json-c adds its include directory).
#include <json.h>
