/*
 * A fake libnvidia-ml.so for the agent's tests: the NVML functions gpuwatch-agent calls,
 * serving values from a text file so the tests can drive the real NVML code path on a
 * machine without a GPU or a driver.
 *
 * The file is the library's own path plus ".conf" (found with dladdr), so every copy of
 * the library in its own directory is an independent fake: tests run in parallel in one
 * process. It is read at nvmlInit_v2 and again at every nvmlDeviceGetCount_v2 (once per
 * sample), so a test changes what the GPUs report by rewriting it between samples.
 *
 *   count N                       number of GPUs
 *   init_error CODE               nvmlInit_v2 fails with CODE (9: driver not loaded)
 *   sum_links 0|1                 whether NVLink fields accept scopeId = UINT_MAX (all
 *                                 links summed); 0 plays an older driver: INVALID_ARGUMENT
 *   xid GPU CODE                  an XID event; delivered once, in file order, through
 *                                 nvmlEventSetWait_v2 to a set GPU registered with
 *   gpu I uuid TEXT | name TEXT
 *   gpu I utilization GPU MEM     percent
 *   gpu I encoder P | decoder P   percent
 *   gpu I memory TOTAL USED       bytes
 *   gpu I power MW | power_limit MW | energy MJ
 *   gpu I temperature C | sm_clock MHZ | throttle BITS
 *   gpu I ecc CORRECTED UNCORRECTED   volatile counts; aggregate ones are +1000
 *   gpu I pcie TX RX              KB/s
 *   gpu I nvlink LINK TX RX       cumulative KiB of one link (links 0..n-1, in order)
 *   gpu I process PID BYTES       a running compute process
 *   gpu I fail FUNCTION CODE      FUNCTION returns CODE for this GPU
 *   gpu I lost 1                  every query of this GPU returns GPU_IS_LOST
 *   gpu I xid_events 0            registering for events returns NOT_SUPPORTED
 *   gpu I mig_mode M              current MIG mode: 0 disabled (the default), 1 enabled,
 *                                 -1 NOT_SUPPORTED (a GPU without MIG)
 *   gpu I mig_slots N             the most MIG instances the GPU can hold (H100: 7)
 *   mig I S KEY ...               the MIG instance in slot S of GPU I, with the gpu keys
 *                                 uuid, name, memory, process, fail and utilization;
 *                                 a slot with no line is empty (NOT_FOUND)
 *
 * As NVML does, a MIG instance answers only for its UUID, name, memory and processes
 * (and utilization when it has an `utilization` line); every other query is
 * NOT_SUPPORTED. A GPU in MIG mode answers NOT_SUPPORTED for utilization, and lists the
 * processes of all its instances, each with its GPU instance id (slot + 1).
 *
 * Built with -DFAKE_OLD_DRIVER it lacks nvmlDeviceGetComputeRunningProcesses_v3 and
 * nvmlDeviceGetTotalEnergyConsumption, like a driver older than the bindings.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned int nvmlReturn_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

#define MAX_GPUS 16
#define MAX_LINKS 18
#define MAX_PROCESSES 16
#define MAX_FAILS 16
#define MAX_XIDS 64
#define MAX_MIGS 8

#define FI_NVLINK_LINK_COUNT 91
#define FI_NVLINK_THROUGHPUT_DATA_TX 138
#define FI_NVLINK_THROUGHPUT_DATA_RX 139
#define EVENT_XID_CRITICAL_ERROR 8ULL

struct fake_process {
    unsigned int pid;
    unsigned long long memory;
};

struct fake_fail {
    char function[64];
    nvmlReturn_t code;
};

struct fake_gpu {
    char uuid[96];
    char name[96];
    unsigned int utilization, memory_utilization, encoder, decoder;
    unsigned long long memory_total, memory_used;
    unsigned int power_mw, power_limit_mw;
    unsigned long long energy_mj;
    unsigned int temperature, sm_clock_mhz;
    unsigned long long throttle;
    unsigned long long ecc_corrected, ecc_uncorrected;
    unsigned int pcie_tx_kbs, pcie_rx_kbs;
    int links;
    unsigned long long nvlink_tx_kib[MAX_LINKS], nvlink_rx_kib[MAX_LINKS];
    int processes;
    struct fake_process process[MAX_PROCESSES];
    int fails;
    struct fake_fail fail[MAX_FAILS];
    int lost;
    int no_xid_events;
    int mig_mode; /* -1 not supported, 0 disabled, 1 enabled */
    unsigned int mig_slots;
    /* For a MIG instance: */
    int is_mig, present, parent, has_utilization;
};

typedef struct fake_gpu *nvmlDevice_t;

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef union {
    double dVal;
    int siVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    unsigned int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

struct fake_event_set {
    unsigned long long types[MAX_GPUS];
};
typedef struct fake_event_set *nvmlEventSet_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static int count;
static int sum_links = 1;
static nvmlReturn_t init_error;
static struct fake_gpu gpus[MAX_GPUS];
static struct fake_gpu migs[MAX_GPUS][MAX_MIGS];
static struct {
    int gpu;
    unsigned long long code;
} xids[MAX_XIDS];
static int xid_count;
static int xids_delivered;

/* The configuration file: this library's path with ".conf" appended. */
static int config_path(char *out, size_t size)
{
    Dl_info info;
    if (!dladdr((void *)config_path, &info) || !info.dli_fname)
        return -1;
    return snprintf(out, size, "%s.conf", info.dli_fname) < (int)size ? 0 : -1;
}

static void rest_of_line(char *dst, size_t size, const char *src)
{
    while (*src == ' ')
        src++;
    snprintf(dst, size, "%s", src);
    dst[strcspn(dst, "\r\n")] = '\0';
}

static void parse_gpu(struct fake_gpu *g, const char *key, const char *rest)
{
    if (!strcmp(key, "uuid"))
        rest_of_line(g->uuid, sizeof g->uuid, rest);
    else if (!strcmp(key, "name"))
        rest_of_line(g->name, sizeof g->name, rest);
    else if (!strcmp(key, "utilization")) {
        sscanf(rest, "%u %u", &g->utilization, &g->memory_utilization);
        g->has_utilization = 1;
    }
    else if (!strcmp(key, "encoder"))
        sscanf(rest, "%u", &g->encoder);
    else if (!strcmp(key, "decoder"))
        sscanf(rest, "%u", &g->decoder);
    else if (!strcmp(key, "memory"))
        sscanf(rest, "%llu %llu", &g->memory_total, &g->memory_used);
    else if (!strcmp(key, "power"))
        sscanf(rest, "%u", &g->power_mw);
    else if (!strcmp(key, "power_limit"))
        sscanf(rest, "%u", &g->power_limit_mw);
    else if (!strcmp(key, "energy"))
        sscanf(rest, "%llu", &g->energy_mj);
    else if (!strcmp(key, "temperature"))
        sscanf(rest, "%u", &g->temperature);
    else if (!strcmp(key, "sm_clock"))
        sscanf(rest, "%u", &g->sm_clock_mhz);
    else if (!strcmp(key, "throttle"))
        sscanf(rest, "%llu", &g->throttle);
    else if (!strcmp(key, "ecc"))
        sscanf(rest, "%llu %llu", &g->ecc_corrected, &g->ecc_uncorrected);
    else if (!strcmp(key, "pcie"))
        sscanf(rest, "%u %u", &g->pcie_tx_kbs, &g->pcie_rx_kbs);
    else if (!strcmp(key, "nvlink")) {
        int link;
        unsigned long long tx, rx;
        if (sscanf(rest, "%d %llu %llu", &link, &tx, &rx) == 3 && link >= 0 && link < MAX_LINKS) {
            g->nvlink_tx_kib[link] = tx;
            g->nvlink_rx_kib[link] = rx;
            if (link + 1 > g->links)
                g->links = link + 1;
        }
    } else if (!strcmp(key, "process")) {
        struct fake_process p;
        if (g->processes < MAX_PROCESSES && sscanf(rest, "%u %llu", &p.pid, &p.memory) == 2)
            g->process[g->processes++] = p;
    } else if (!strcmp(key, "fail")) {
        struct fake_fail f;
        if (g->fails < MAX_FAILS && sscanf(rest, "%63s %u", f.function, &f.code) == 2)
            g->fail[g->fails++] = f;
    } else if (!strcmp(key, "lost"))
        sscanf(rest, "%d", &g->lost);
    else if (!strcmp(key, "xid_events")) {
        int enabled = 1;
        sscanf(rest, "%d", &enabled);
        g->no_xid_events = !enabled;
    } else if (!strcmp(key, "mig_mode"))
        sscanf(rest, "%d", &g->mig_mode);
    else if (!strcmp(key, "mig_slots"))
        sscanf(rest, "%u", &g->mig_slots);
}

/* Reads the configuration; the GPU array is rewritten in place so handles stay valid.
 * Called with the lock held. Returns 0, or -1 when the file cannot be read. */
static int load(void)
{
    char path[PATH_MAX], line[512], word[64], key[64];
    FILE *file;
    if (config_path(path, sizeof path) || !(file = fopen(path, "r")))
        return -1;
    memset(gpus, 0, sizeof gpus);
    memset(migs, 0, sizeof migs);
    count = 0;
    sum_links = 1;
    init_error = NVML_SUCCESS;
    xid_count = 0;
    while (fgets(line, sizeof line, file)) {
        int index, offset = 0;
        if (sscanf(line, "%63s", word) != 1)
            continue;
        if (!strcmp(word, "count"))
            sscanf(line, "%*s %d", &count);
        else if (!strcmp(word, "init_error"))
            sscanf(line, "%*s %u", &init_error);
        else if (!strcmp(word, "sum_links"))
            sscanf(line, "%*s %d", &sum_links);
        else if (!strcmp(word, "xid")) {
            if (xid_count < MAX_XIDS &&
                sscanf(line, "%*s %d %llu", &xids[xid_count].gpu, &xids[xid_count].code) == 2)
                xid_count++;
        } else if (!strcmp(word, "gpu")) {
            if (sscanf(line, "%*s %d %63s %n", &index, key, &offset) >= 2 && offset > 0 &&
                index >= 0 && index < MAX_GPUS)
                parse_gpu(&gpus[index], key, line + offset);
        } else if (!strcmp(word, "mig")) {
            int slot;
            if (sscanf(line, "%*s %d %d %63s %n", &index, &slot, key, &offset) >= 3 &&
                offset > 0 && index >= 0 && index < MAX_GPUS && slot >= 0 && slot < MAX_MIGS) {
                struct fake_gpu *m = &migs[index][slot];
                m->is_mig = m->present = 1;
                m->parent = index;
                parse_gpu(m, key, line + offset);
            }
        }
    }
    fclose(file);
    if (count > MAX_GPUS)
        count = MAX_GPUS;
    return 0;
}

/* Whether a MIG instance answers `function`, as NVML's MIG device handles do. */
static int mig_answers(const struct fake_gpu *m, const char *function)
{
    static const char *const answered[] = {
        "nvmlDeviceGetUUID", "nvmlDeviceGetName", "nvmlDeviceGetMemoryInfo_v2",
        "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceIsMigDeviceHandle",
        "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
    };
    for (size_t i = 0; i < sizeof answered / sizeof *answered; i++)
        if (!strcmp(function, answered[i]))
            return 1;
    return m->has_utilization && !strcmp(function, "nvmlDeviceGetUtilizationRates");
}

/* Whether `device` is a GPU or a MIG instance of one, now; called with the lock held. */
static int valid(nvmlDevice_t device)
{
    if (device >= gpus && device < gpus + count)
        return 1;
    if (device >= &migs[0][0] && device < &migs[0][0] + MAX_GPUS * MAX_MIGS)
        return device->present && device->parent < count;
    return 0;
}

/* Whether `device` may be queried through `function` now; called with the lock held. */
static nvmlReturn_t check(nvmlDevice_t device, const char *function)
{
    if (!initialized)
        return NVML_ERROR_UNINITIALIZED;
    if (!valid(device))
        return NVML_ERROR_INVALID_ARGUMENT;
    if (device->lost || (device->is_mig && gpus[device->parent].lost))
        return NVML_ERROR_GPU_IS_LOST;
    if (device->is_mig && !mig_answers(device, function))
        return NVML_ERROR_NOT_SUPPORTED;
    if (!device->is_mig && device->mig_mode == 1 && !strcmp(function, "nvmlDeviceGetUtilizationRates"))
        return NVML_ERROR_NOT_SUPPORTED;
    for (int i = 0; i < device->fails; i++)
        if (!strcmp(device->fail[i].function, function))
            return device->fail[i].code;
    return NVML_SUCCESS;
}

/* Every device query: lock, check, run BODY when allowed, unlock, return. */
#define DEVICE_QUERY(device, BODY)                          \
    do {                                                    \
        nvmlReturn_t rc_;                                   \
        pthread_mutex_lock(&lock);                          \
        rc_ = check((device), __func__);                    \
        if (rc_ == NVML_SUCCESS) {                          \
            BODY                                            \
        }                                                   \
        pthread_mutex_unlock(&lock);                        \
        return rc_;                                         \
    } while (0)

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src)
{
    if (!dst || strlen(src) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
    nvmlReturn_t rc;
    pthread_mutex_lock(&lock);
    if (load())
        rc = NVML_ERROR_DRIVER_NOT_LOADED;
    else
        rc = init_error;
    if (rc == NVML_SUCCESS)
        initialized++;
    pthread_mutex_unlock(&lock);
    return rc;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void)
{
    nvmlReturn_t rc = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (initialized > 0)
        initialized--;
    else
        rc = NVML_ERROR_UNINITIALIZED;
    pthread_mutex_unlock(&lock);
    return rc;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    return copy_string(version, length, "550.54.15");
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *device_count)
{
    nvmlReturn_t rc = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (!initialized)
        rc = NVML_ERROR_UNINITIALIZED;
    else {
        load();
        *device_count = (unsigned int)count;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t rc = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (!initialized)
        rc = NVML_ERROR_UNINITIALIZED;
    else if (index >= (unsigned int)count)
        rc = NVML_ERROR_INVALID_ARGUMENT;
    else
        *device = &gpus[index];
    pthread_mutex_unlock(&lock);
    return rc;
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    DEVICE_QUERY(device, { *index = (unsigned int)(device - gpus); });
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    DEVICE_QUERY(device, { rc_ = copy_string(uuid, length, device->uuid); });
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    DEVICE_QUERY(device, { rc_ = copy_string(name, length, device->name); });
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    DEVICE_QUERY(device, {
        if (memory->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))
            rc_ = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
        else {
            memory->total = device->memory_total;
            memory->used = device->memory_used;
            memory->reserved = 0;
            memory->free = device->memory_total - device->memory_used;
        }
    });
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    DEVICE_QUERY(device, {
        utilization->gpu = device->utilization;
        utilization->memory = device->memory_utilization;
    });
}

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                             unsigned int *sampling_period_us)
{
    DEVICE_QUERY(device, {
        *utilization = device->encoder;
        *sampling_period_us = 167000;
    });
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                             unsigned int *sampling_period_us)
{
    DEVICE_QUERY(device, {
        *utilization = device->decoder;
        *sampling_period_us = 167000;
    });
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power_mw)
{
    DEVICE_QUERY(device, { *power_mw = device->power_mw; });
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit_mw)
{
    DEVICE_QUERY(device, { *limit_mw = device->power_limit_mw; });
}

#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy_mj)
{
    DEVICE_QUERY(device, { *energy_mj = device->energy_mj; });
}
#endif

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, unsigned int sensor, unsigned int *celsius)
{
    DEVICE_QUERY(device, {
        if (sensor != 0)
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
        else
            *celsius = device->temperature;
    });
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, unsigned int clock, unsigned int *mhz)
{
    DEVICE_QUERY(device, {
        /* 0 graphics, 1 SM, 2 memory, 3 video */
        if (clock == 1 || clock == 0)
            *mhz = device->sm_clock_mhz;
        else if (clock == 2)
            *mhz = 2619;
        else
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
    });
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *reasons)
{
    DEVICE_QUERY(device, { *reasons = device->throttle; });
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, unsigned int error_type,
                                         unsigned int counter_type, unsigned long long *errors)
{
    DEVICE_QUERY(device, {
        /* error type 0 corrected, 1 uncorrected; counter 0 volatile, 1 aggregate */
        unsigned long long value = error_type == 0 ? device->ecc_corrected : device->ecc_uncorrected;
        if (error_type > 1 || counter_type > 1)
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
        else
            *errors = counter_type == 0 ? value : value + 1000;
    });
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device, unsigned int counter, unsigned int *kbs)
{
    DEVICE_QUERY(device, {
        /* 0 TX, 1 RX */
        if (counter == 0)
            *kbs = device->pcie_tx_kbs;
        else if (counter == 1)
            *kbs = device->pcie_rx_kbs;
        else
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
    });
}

#ifndef FAKE_OLD_DRIVER
/* Appends the processes of `owner` to `infos` (room for `room`) from position `n`, with
 * GPU instance id `instance`; returns the new count. */
static unsigned int add_processes(const struct fake_gpu *owner, unsigned int instance,
                                  nvmlProcessInfo_t *infos, unsigned int room, unsigned int n)
{
    for (int i = 0; i < owner->processes; i++, n++) {
        if (n >= room)
            continue;
        infos[n].pid = owner->process[i].pid;
        infos[n].usedGpuMemory = owner->process[i].memory;
        infos[n].gpuInstanceId = instance;
        infos[n].computeInstanceId = instance == 0xFFFFFFFFu ? instance : 0;
    }
    return n;
}

/* The processes `device` lists: its own, or for a GPU in MIG mode those of every instance
 * (GPU instance id slot + 1). Writes up to `room` into `infos`; returns how many there are. */
static unsigned int list_processes(const struct fake_gpu *device, nvmlProcessInfo_t *infos,
                                   unsigned int room)
{
    if (device->is_mig || device->mig_mode != 1)
        return add_processes(device, 0xFFFFFFFFu, infos, room, 0);
    unsigned int n = 0;
    for (int slot = 0; slot < MAX_MIGS; slot++) {
        const struct fake_gpu *instance = &migs[device - gpus][slot];
        if (instance->present)
            n = add_processes(instance, (unsigned int)slot + 1, infos, room, n);
    }
    return n;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *info_count,
                                                     nvmlProcessInfo_t *infos)
{
    DEVICE_QUERY(device, {
        unsigned int n = list_processes(device, NULL, 0);
        if (*info_count < n || (!infos && n > 0)) {
            *info_count = n;
            rc_ = NVML_ERROR_INSUFFICIENT_SIZE;
        } else {
            *info_count = list_processes(device, infos, *info_count);
        }
    });
}
#endif

/* One NVLink throughput value: one link, or every link summed for scopeId UINT_MAX. */
static void nvlink_value(const struct fake_gpu *g, nvmlFieldValue_t *v)
{
    const unsigned long long *kib =
        v->fieldId == FI_NVLINK_THROUGHPUT_DATA_TX ? g->nvlink_tx_kib : g->nvlink_rx_kib;
    v->valueType = 3; /* unsigned long long */
    if (g->links == 0) {
        v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
    } else if (v->scopeId == UINT_MAX) {
        if (!sum_links) {
            v->nvmlReturn = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            v->value.ullVal = 0;
            for (int link = 0; link < g->links; link++)
                v->value.ullVal += kib[link];
            v->nvmlReturn = NVML_SUCCESS;
        }
    } else if (v->scopeId < (unsigned int)g->links) {
        v->value.ullVal = kib[v->scopeId];
        v->nvmlReturn = NVML_SUCCESS;
    } else {
        v->nvmlReturn = NVML_ERROR_INVALID_ARGUMENT;
    }
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int values_count, nvmlFieldValue_t *values)
{
    DEVICE_QUERY(device, {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        for (int i = 0; i < values_count; i++) {
            nvmlFieldValue_t *v = &values[i];
            v->timestamp = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
            v->latencyUsec = 0;
            switch (v->fieldId) {
            case FI_NVLINK_THROUGHPUT_DATA_TX:
            case FI_NVLINK_THROUGHPUT_DATA_RX:
                nvlink_value(device, v);
                break;
            case FI_NVLINK_LINK_COUNT:
                v->valueType = 1; /* unsigned int */
                v->value.uiVal = (unsigned int)device->links;
                v->nvmlReturn = NVML_SUCCESS;
                break;
            default:
                v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            }
        }
    });
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending)
{
    DEVICE_QUERY(device, {
        if (device->is_mig || device->mig_mode < 0)
            rc_ = NVML_ERROR_NOT_SUPPORTED;
        else
            *current = *pending = (unsigned int)device->mig_mode;
    });
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *slots)
{
    DEVICE_QUERY(device, {
        if (device->is_mig || device->mig_mode < 0)
            rc_ = NVML_ERROR_NOT_SUPPORTED;
        else
            *slots = device->mig_slots;
    });
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t *mig)
{
    DEVICE_QUERY(device, {
        if (device->is_mig || device->mig_mode != 1)
            rc_ = NVML_ERROR_NOT_SUPPORTED;
        else if (index >= device->mig_slots || index >= MAX_MIGS)
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
        else if (!migs[device - gpus][index].present)
            rc_ = NVML_ERROR_NOT_FOUND;
        else
            *mig = &migs[device - gpus][index];
    });
}

nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *is_mig)
{
    DEVICE_QUERY(device, { *is_mig = (unsigned int)device->is_mig; });
}

nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t device, nvmlDevice_t *parent)
{
    DEVICE_QUERY(device, {
        if (!device->is_mig)
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
        else
            *parent = &gpus[device->parent];
    });
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t rc = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (!initialized)
        rc = NVML_ERROR_UNINITIALIZED;
    else if (!(*set = calloc(1, sizeof **set)))
        rc = NVML_ERROR_UNKNOWN;
    pthread_mutex_unlock(&lock);
    return rc;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set)
{
    DEVICE_QUERY(device, {
        if (!set)
            rc_ = NVML_ERROR_INVALID_ARGUMENT;
        else if (device->no_xid_events)
            rc_ = NVML_ERROR_NOT_SUPPORTED;
        else
            set->types[device - gpus] |= types;
    });
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeout_ms)
{
    struct timespec start, now, pause = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pthread_mutex_lock(&lock);
        if (!initialized) {
            pthread_mutex_unlock(&lock);
            return NVML_ERROR_UNINITIALIZED;
        }
        while (xids_delivered < xid_count) {
            int gpu = xids[xids_delivered].gpu;
            unsigned long long code = xids[xids_delivered].code;
            xids_delivered++;
            if (gpu >= 0 && gpu < MAX_GPUS && (set->types[gpu] & EVENT_XID_CRITICAL_ERROR)) {
                data->device = &gpus[gpu];
                data->eventType = EVENT_XID_CRITICAL_ERROR;
                data->eventData = code;
                data->gpuInstanceId = 0xFFFFFFFFu;
                data->computeInstanceId = 0xFFFFFFFFu;
                pthread_mutex_unlock(&lock);
                return NVML_SUCCESS;
            }
        }
        pthread_mutex_unlock(&lock);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed_ms >= timeout_ms)
            return NVML_ERROR_TIMEOUT;
        nanosleep(&pause, NULL);
    }
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    free(set);
    return NVML_SUCCESS;
}
