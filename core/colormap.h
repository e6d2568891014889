/* colormap.h: the colormap tables of core/colormap_data.c (private to render.c). */
#ifndef CAM_COLORMAP_H
#define CAM_COLORMAP_H

#include <stdint.h>

extern const uint8_t cam__cmap_jet[256 * 3];
extern const uint8_t cam__cmap_turbo[256 * 3];
extern const uint8_t cam__cmap_viridis[256 * 3];
extern const uint8_t cam__cmap_inferno[256 * 3];
extern const uint8_t cam__cmap_gray[256 * 3];

#endif
