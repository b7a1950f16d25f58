import { tempBackend } from '../helpers/backend.js';
import { registrySuite } from './registry.suite.js';

registrySuite('embedded', async () => {
  const b = tempBackend('eddy-registry-');
  return { log: b.log, name: 'delays', destroy: () => b.destroy() };
});
