// A publication is one task's passage to its platform (SPEC §4): the workflow, its activities and the API all
// speak of its status with these words.
import { z } from 'zod';

export const publicationStatuses = [
  'pending',
  'publishing',
  'handed_off',
  'published',
  'failed',
  'cancelled',
] as const;
export const PublicationStatus = z.enum(publicationStatuses);
export type PublicationStatus = z.infer<typeof PublicationStatus>;
