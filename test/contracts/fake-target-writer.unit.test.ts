/** The unit tests' FakeTargetWriter passes the same TargetWriter contract as the real Milvus writer. */
import { FakeTargetWriter } from '../../services/worker/src/testing/fakes.js';
import { describeTargetWriterContract } from './target-writer.contract.js';

describeTargetWriterContract('in-memory fake', () => {
  const writer = new FakeTargetWriter();
  return Promise.resolve({
    writer,
    db: 'contract',
    rows: (target) =>
      Promise.resolve(new Map(writer.rowsOf.get(`${target.db}.${target.collection}`) ?? [])),
    dispose: () => writer.close(),
  });
});
