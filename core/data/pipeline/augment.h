// Training-time augmentation of decoded image samples [C, H, W]: random crop after zero padding
// (torchvision's RandomCrop(size, padding)) and random horizontal flip (RandomHorizontalFlip).
//
// The draws come from a generator seeded by (seed, epoch, sample key) alone, so a sample is
// augmented the same way whichever worker decodes it, in whatever order: the batches of a seed
// do not depend on the worker count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tb::data {

struct AugmentSpec {
  std::int64_t crop_padding = 0;  // pixels added on each side before a random H x W crop
  bool flip = false;              // mirror left-right with probability 1/2
  bool enabled() const { return crop_padding > 0 || flip; }
};

// Augments one sample in place. shape is the sample's [C, H, W]; pad_value is the feature a raw
// zero becomes (SampleDecoder::zero_feature()). scratch is reused between calls.
void augment_sample(const AugmentSpec& spec, std::span<const std::uint32_t> shape, float pad_value,
                    std::uint64_t seed, std::int64_t epoch, std::uint64_t key,
                    std::span<float> sample, std::vector<float>& scratch);

}  // namespace tb::data
