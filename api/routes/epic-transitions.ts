// The transitions that need the epic workflow (SPEC §4), over HTTP: schedule starts a run; reschedule,
// unschedule, edit back to draft and retry are asked of the running workflow through updates, which answer
// "applied" or refuse with a reason (409). The decisions live in api/epic-transition-requests.ts, shared with
// the admin command; the epic is read back afterwards: the workflow wrote it through its activities.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { createEpicTransitionRequests, ScheduleBody } from '../epic-transition-requests.ts';
import { viewEpic } from '../epic-views.ts';
import type { EpicWorkflows } from '../epic-workflows.ts';
import { errorResponses } from '../errors.ts';
import { EditBody, EpicView, IdParams } from '../schemas.ts';

const ReasonBody = z.strictObject({ reason: z.string().max(1_000).optional() });
const EmptyBody = z.strictObject({});

export const epicTransitionRoutes: FastifyPluginAsyncZod<{
  db: Database;
  workflows: EpicWorkflows;
  now?: () => Date;
}> = async (app, { db, workflows, now = () => new Date() }) => {
  const tags = ['epic transitions'];
  const responses = { 200: EpicView, ...errorResponses(400, 401, 404, 409, 503) };
  const transitions = createEpicTransitionRequests({ db, workflows, now });

  app.post(
    '/epics/:id/schedule',
    {
      schema: {
        tags,
        summary: 'Schedule a reviewed epic: real tasks are handed to their platforms now, soft ones wait',
        params: IdParams,
        body: ScheduleBody,
        response: { ...responses, 200: EpicView },
      },
    },
    async (request) => {
      const { caller } = request;
      return viewEpic(
        db,
        caller.workspaceId,
        await transitions.schedule(caller, request.params.id, request.body),
      );
    },
  );

  app.post(
    '/epics/:id/reschedule',
    {
      schema: {
        tags,
        summary: 'Move a scheduled epic (and its hand-offs) to a new time',
        params: IdParams,
        body: ScheduleBody,
        response: responses,
      },
    },
    async (request) => {
      const { caller } = request;
      return viewEpic(
        db,
        caller.workspaceId,
        await transitions.reschedule(caller, request.params.id, request.body),
      );
    },
  );

  app.post(
    '/epics/:id/unschedule',
    {
      schema: {
        tags,
        summary: 'Back to review: nothing will be published; hand-offs are cancelled',
        params: IdParams,
        body: ReasonBody.nullish(),
        response: responses,
      },
    },
    async (request) => {
      const { caller } = request;
      return viewEpic(
        db,
        caller.workspaceId,
        await transitions.unschedule(caller, request.params.id, request.body?.reason),
      );
    },
  );

  app.post(
    '/epics/:id/edit',
    {
      schema: {
        tags,
        summary: 'Edit back to draft (needs {confirm: true}); content is kept',
        params: IdParams,
        body: EditBody,
        response: responses,
      },
    },
    async (request) => {
      const { caller } = request;
      return viewEpic(
        db,
        caller.workspaceId,
        await transitions.edit(caller, request.params.id, request.body.reason),
      );
    },
  );

  app.post(
    '/epics/:id/retry',
    {
      schema: {
        tags,
        summary: 'Retry the failed publications of an epic in error (the others are not sent again)',
        params: IdParams,
        body: EmptyBody.nullish(),
        response: responses,
      },
    },
    async (request) => {
      const { caller } = request;
      return viewEpic(db, caller.workspaceId, await transitions.retry(caller, request.params.id));
    },
  );
};
