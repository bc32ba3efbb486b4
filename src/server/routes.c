/* The route table: every endpoint, the role it needs and its handler.
 * docs/api/openapi.json documents each one (a test checks it does), and the
 * end-to-end test drives its 401/403 checks from `corrald --list-routes`. */
#include "server/server.h"

#include "util/util.h"

#define V API_PREFIX
#define POOL V "/pools/{pool}"
#define VOL POOL "/volumes/{volume}"
#define VM V "/vms/{vm}"
#define NET V "/networks/{network}"
#define CT V "/containers/{container}"

const struct route routes[] = {
    { "POST", V "/auth/login", ROLE_NONE, h_login, "Log in: session cookie + CSRF token" },
    { "POST", V "/auth/logout", ROLE_AUDITOR, h_logout, "End this session" },
    { "GET", V "/auth/whoami", ROLE_AUDITOR, h_whoami, "Who the caller is" },
    { "GET", V, ROLE_AUDITOR, h_api_info, "API version and server facts" },
    { "GET", V "/openapi.json", ROLE_AUDITOR, h_openapi, "This API's OpenAPI 3 document" },
    { "GET", V "/host", ROLE_AUDITOR, h_host, "CPUs, memory, load and the VM engines usable here" },

    { "GET", V "/pools", ROLE_AUDITOR, h_pools_list, "List storage pools" },
    { "POST", V "/pools", ROLE_ADMIN, h_pools_create, "Create a directory storage pool" },
    { "GET", POOL, ROLE_AUDITOR, h_pool_get, "Get a pool" },
    { "PATCH", POOL, ROLE_ADMIN, h_pool_patch, "Change a pool's description" },
    { "DELETE", POOL, ROLE_ADMIN, h_pool_delete, "Delete an empty pool" },

    { "GET", POOL "/volumes", ROLE_AUDITOR, h_volumes_list, "List a pool's volumes" },
    { "POST", POOL "/volumes", ROLE_OPERATOR, h_volumes_create,
      "Create a volume, or a linked clone of one (async)" },
    { "GET", VOL, ROLE_AUDITOR, h_volume_get, "Get a volume" },
    { "PATCH", VOL, ROLE_OPERATOR, h_volume_patch, "Resize a volume or change its description (async)" },
    { "DELETE", VOL, ROLE_OPERATOR, h_volume_delete, "Delete a volume (async)" },

    { "GET", V "/vms", ROLE_AUDITOR, h_vms_list, "List VMs" },
    { "POST", V "/vms", ROLE_OPERATOR, h_vms_create, "Create a VM (stopped)" },
    { "GET", VM, ROLE_AUDITOR, h_vm_get, "Get a VM" },
    { "PATCH", VM, ROLE_OPERATOR, h_vm_patch, "Change a VM's configuration (stopped) or description" },
    { "DELETE", VM, ROLE_OPERATOR, h_vm_delete, "Delete a stopped VM" },
    { "POST", VM "/start", ROLE_OPERATOR, h_vm_start, "Start a VM (async)" },
    { "POST", VM "/stop", ROLE_OPERATOR, h_vm_stop, "Stop a VM at once, like pulling the plug (async)" },
    { "POST", VM "/shutdown", ROLE_OPERATOR, h_vm_shutdown,
      "Ask the guest to power off, within a timeout; force stops it after (async)" },
    { "POST", VM "/pause", ROLE_OPERATOR, h_vm_pause, "Pause a VM's vCPUs (async)" },
    { "POST", VM "/resume", ROLE_OPERATOR, h_vm_resume, "Resume a paused VM (async)" },
    { "POST", VM "/restart", ROLE_OPERATOR, h_vm_restart, "Shut down (forced after the timeout) and start (async)" },
    { "GET", VM "/console", ROLE_OPERATOR, h_vm_console, "The VM's serial console (WebSocket)" },

    { "GET", V "/images", ROLE_AUDITOR, h_images_list, "List images (container and VM)" },
    { "POST", V "/images", ROLE_ADMIN, h_images_import,
      "Import a container image or a VM boot image from host paths (async)" },
    { "GET", V "/images/{image}", ROLE_AUDITOR, h_image_get, "Get an image" },
    { "DELETE", V "/images/{image}", ROLE_ADMIN, h_image_delete, "Delete an image no container or VM uses" },

    { "GET", V "/containers", ROLE_AUDITOR, h_containers_list, "List containers" },
    { "POST", V "/containers", ROLE_OPERATOR, h_containers_create, "Create a container from an image (stopped)" },
    { "GET", CT, ROLE_AUDITOR, h_container_get, "Get a container" },
    { "PATCH", CT, ROLE_OPERATOR, h_container_patch, "Change a container's limits (live) or description" },
    { "DELETE", CT, ROLE_OPERATOR, h_container_delete, "Delete a stopped container and its bundle" },
    { "POST", CT "/start", ROLE_OPERATOR, h_container_start, "Start a container (async)" },
    { "POST", CT "/stop", ROLE_OPERATOR, h_container_stop,
      "SIGTERM, then SIGKILL after the timeout (async)" },
    { "POST", CT "/kill", ROLE_OPERATOR, h_container_kill, "SIGKILL a container (async)" },
    { "POST", CT "/pause", ROLE_OPERATOR, h_container_pause, "Freeze every process of a running container (async)" },
    { "POST", CT "/resume", ROLE_OPERATOR, h_container_resume, "Thaw a paused container (async)" },
    { "POST", CT "/exec", ROLE_OPERATOR, h_container_exec, "Run a command in a container: exit code and output" },
    { "GET", CT "/console", ROLE_OPERATOR, h_container_console, "The container's terminal (WebSocket)" },

    { "GET", V "/networks", ROLE_AUDITOR, h_networks_list, "List networks" },
    { "POST", V "/networks", ROLE_ADMIN, h_networks_create, "Create a network: a bridge with its own subnet" },
    { "GET", NET, ROLE_AUDITOR, h_network_get, "Get a network and the NICs on it" },
    { "PATCH", NET, ROLE_ADMIN, h_network_patch, "Change a network's description" },
    { "DELETE", NET, ROLE_ADMIN, h_network_delete, "Delete a network no VM uses" },

    { "GET", V "/users", ROLE_AUDITOR, h_users_list, "List users" },
    { "POST", V "/users", ROLE_ADMIN, h_users_create, "Create a user" },
    { "GET", V "/users/{user}", ROLE_AUDITOR, h_user_get, "Get a user" },
    { "PATCH", V "/users/{user}", ROLE_ADMIN, h_user_patch, "Change a user's role or password" },
    { "DELETE", V "/users/{user}", ROLE_ADMIN, h_user_delete, "Delete a user" },

    { "GET", V "/tokens", ROLE_AUDITOR, h_tokens_list, "List your API tokens (admins: all)" },
    { "POST", V "/tokens", ROLE_AUDITOR, h_tokens_create, "Create an API token (shown once)" },
    { "DELETE", V "/tokens/{token}", ROLE_AUDITOR, h_token_delete, "Revoke an API token" },

    { "GET", V "/operations", ROLE_AUDITOR, h_ops_list, "List recent operations" },
    { "GET", V "/operations/{op}", ROLE_AUDITOR, h_op_get, "Get an operation" },
    { "GET", V "/operations/{op}/wait", ROLE_AUDITOR, h_op_wait,
      "Wait for an operation to finish (?timeout=seconds)" },
    { "DELETE", V "/operations/{op}", ROLE_OPERATOR, h_op_cancel, "Cancel an operation" },

    { "GET", V "/events", ROLE_AUDITOR, h_events, "Lifecycle and operation events (SSE)" },
    { "GET", V "/audit", ROLE_AUDITOR, h_audit, "The audit log of changes (?limit=N)" },
};

const size_t routes_count = ARRAY_SIZE(routes);
